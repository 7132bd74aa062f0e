// `npm run docs:config`: write the configuration table (docs/configuration.md) from the schema (configSchema.ts), between
// the <!-- config-table --> markers. A unit test fails while that page and the schema disagree.
import * as fs from "fs";
import * as path from "path";
import { renderConfigTable } from "../configSchema";

const README = path.join(__dirname, "..", "docs", "configuration.md");
const text = fs.readFileSync(README, "utf8");
const section = /(<!-- config-table -->\n)[\s\S]*?(\n<!-- \/config-table -->)/;
if (!section.test(text)) {
    process.stderr.write("docs/configuration.md has no <!-- config-table --> ... <!-- /config-table --> section\n");
    process.exit(1);
}
const table = renderConfigTable({ stack: "dev", profile: "fast", patroniNodes: 4 });
fs.writeFileSync(
    README,
    text.replace(section, (_m, open: string, close: string) => `${open}${table}${close}`),
);
process.stdout.write("docs/configuration.md: configuration table written from configSchema.ts\n");
