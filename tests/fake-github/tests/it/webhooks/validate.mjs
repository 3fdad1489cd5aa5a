// Validates webhook payloads against @octokit/webhooks-schemas with ajv.
// Usage: node validate.mjs NODE_MODULES_DIR FILE... where each FILE is named `<event>.<action>.json`
// (`<event>.event.json` for events without an action). Prints one line per invalid payload.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const [dir, ...files] = process.argv.slice(2);
const require = createRequire(dir + "/");
const Ajv = require("ajv");
const addFormats = require("ajv-formats");
const schema = require("@octokit/webhooks-schemas/schema.json");
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(schema, "webhooks");
let bad = 0;
for (const file of files) {
  const [event, action] = basename(file, ".json").split(".");
  const validate = ajv.getSchema(`webhooks#/definitions/${event}$${action}`);
  if (!validate) {
    console.log(`${file}: no schema for ${event}$${action}`);
    bad++;
    continue;
  }
  if (!validate(JSON.parse(readFileSync(file, "utf8")))) {
    bad++;
    for (const e of validate.errors.slice(0, 20)) {
      console.log(`${basename(file)}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
}
process.exit(bad ? 1 : 0);
