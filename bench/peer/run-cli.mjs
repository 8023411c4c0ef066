// Launches the glm-webgpu CLI bundle that bench/peer/prepare.sh copies beside this file (cli/main.js),
// as bin/glm-webgpu.mjs does for dist/cli: node run-cli.mjs bench --preset glm-4-9b --json out.json
const { run } = await import(new URL('./cli/main.js', import.meta.url).href);
process.exitCode = await run(process.argv.slice(2));
