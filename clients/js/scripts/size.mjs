// Prints the size of each entry point as a browser bundle would carry it:
// bundled with what it imports, minified by esbuild, gzipped (level 9).
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

for (const entry of ["dist/index.js", "dist/sender.js"]) {
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: "esm", write: false, platform: "neutral" });
  const code = out.outputFiles[0].contents;
  console.log(`${entry}: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes minified and gzipped`);
}
