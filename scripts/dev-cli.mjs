#!/usr/bin/env node
// The package's bin (copied to dist/dev/cli.mjs by scripts/build-dev.mjs):
//   npx vault-lambda-agent dev <function-dir> <module.export> [options]
// Kept apart from the bundle (run.mjs) so that `--help` and a wrong command answer at once.
const [command, ...rest] = process.argv.slice(2);
const HELP = `usage: vault-lambda-agent <command>

commands:
  dev <function-dir> <module.export> [options]   run your handler locally with the layer, against
                                                 the sandbox Vault or yours (dev --help for options)`;
if (command === undefined || command === "help" || command === "--help" || command === "-h") {
  console.log(HELP);
  process.exit(command === undefined ? 2 : 0);
}
if (command !== "dev") {
  console.error(`vault-lambda-agent: unknown command "${command}"\n\n${HELP}`);
  process.exit(2);
}
const { runDev } = await import("./run.mjs");
process.exit(await runDev(rest));
