"""Reads through a shoal relay with PyGithub: lists pulls across pages (5 per page) and reads one PR.

Usage: python3 pygithub_reads.py BASE_URL CALLER_TOKEN CA_FILE -> one JSON line.
PyGithub builds each next request from URLs in the bodies it got and refuses a next page on
another host or port, so this also proves the relay re-roots links and body URLs at its own host.
"""

import json
import sys

from github import Auth, Github

base_url, token, ca_file = sys.argv[1:4]
gh = Github(base_url=base_url, auth=Auth.Token(token), verify=ca_file, per_page=5, retry=None)
repo = gh.get_repo("octo-org/hello-world")
pulls = [p.number for p in repo.get_pulls(state="all")]
pr = repo.get_pull(1)
print(json.dumps({"pulls": pulls, "title": pr.title}))
