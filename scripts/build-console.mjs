// Bundles the operator console (console/) into dist/console/ with esbuild: one JavaScript and one
// CSS file under content-hashed names (served with a year's immutable caching) and an index.html
// naming them (served no-cache). Run by `npm run build`.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "console");
const out = join(root, "dist", "console");
const assets = join(out, "assets");

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const hashed = (name, extension, bytes) => {
  const file = `${name}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.${extension}`;
  writeFileSync(join(assets, file), bytes);
  return file;
};

const bundle = await build({
  entryPoints: [join(source, "src", "main.tsx")],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  legalComments: "none",
  jsx: "automatic",
  jsxImportSource: "preact",
  tsconfig: join(source, "tsconfig.json"),
  write: false,
  logLevel: "warning",
});
const css = await build({
  entryPoints: [join(source, "styles.css")],
  bundle: true,
  minify: true,
  write: false,
  logLevel: "warning",
});

const files = {
  js: hashed("app", "js", bundle.outputFiles[0].contents),
  css: hashed("app", "css", css.outputFiles[0].contents),
  favicon: hashed("favicon", "svg", readFileSync(join(source, "favicon.svg"))),
};
const html = readFileSync(join(source, "index.html"), "utf8").replace(
  /\{\{(js|css|favicon)\}\}/g,
  (_match, key) => files[key],
);
writeFileSync(join(out, "index.html"), html);
