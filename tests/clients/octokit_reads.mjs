// Reads through a shoal relay with @octokit/rest: paginates pulls and reads one PR.
// Usage: node octokit_reads.mjs BASE_URL CALLER_TOKEN -> one JSON line (trust the CA with NODE_EXTRA_CA_CERTS).
import { Octokit } from "@octokit/rest";

const [baseUrl, auth] = process.argv.slice(2);
const octokit = new Octokit({ baseUrl, auth });
const owner = "octo-org";
const repo = "hello-world";
const pulls = await octokit.paginate(octokit.rest.pulls.list, { owner, repo, state: "all", per_page: 5 });
const pr = await octokit.rest.pulls.get({ owner, repo, pull_number: 1 });
console.log(JSON.stringify({ pulls: pulls.map((p) => p.number), title: pr.data.title }));
