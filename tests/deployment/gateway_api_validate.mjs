// Validates Gateway API objects against the published schemas of the npm package
// @kubernetes-models/gateway-api (generated from the Gateway API CRDs).
// Usage: node gateway_api_validate.mjs <package dir>  < JSON array of objects
// Prints a JSON array: null for a valid object, else the validation message.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const packageDir = process.argv[2];
const docs = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const doc of docs) {
  const [group, version] = String(doc.apiVersion || "").split("/");
  const module = join(packageDir, group || "", version || "", `${doc.kind}.js`);
  let model;
  try {
    model = (await import(pathToFileURL(module).href))[doc.kind];
  } catch (error) {
    results.push(`no published schema for ${doc.apiVersion} ${doc.kind}`);
    continue;
  }
  try {
    new model(doc).validate();
    results.push(null);
  } catch (error) {
    results.push(error.message);
  }
}
process.stdout.write(JSON.stringify(results));
