import type { CommandModule } from "yargs";
import { keyIdOf, readSigningKey } from "../../shared/deploy-signature.ts";
import { writeKeyPair } from "../../shared/write-key-pair.ts";
import { CliError } from "../cli-error.ts";

interface KeygenArgs {
  dir: string;
  name: string;
}

export const keygenCommand: CommandModule<object, KeygenArgs> = {
  command: "keygen",
  describe: "Write an Ed25519 key pair for signing deploy requests (the .pub goes to every agent's trustedKeys)",
  builder: (yargs) =>
    yargs
      .option("dir", { type: "string", default: ".", describe: "folder to write the pair into" })
      .option("name", { type: "string", default: "deploy-signing", describe: "file name: NAME.key (mode 0600) and NAME.pub" })
      .example("$0 keygen --dir /etc/deploykit/keys --name conductor", "a key for the conductor; copy conductor.pub to /etc/deploykit/trusted-keys/ on every server"),
  handler: (args) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(args.name)) throw new CliError(`--name ${JSON.stringify(args.name)} must be a plain file name`, 64);
    let files: { privateKey: string; publicKey: string };
    try {
      files = writeKeyPair(args.dir, args.name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw new CliError(`${args.dir}/${args.name}.key or .pub exists already: keygen never overwrites a key (pick another --name)`, 73);
      throw new CliError(`cannot write the key pair into ${args.dir}: ${(err as Error).message}`, 73);
    }
    const keyId = keyIdOf(readSigningKey(files.privateKey));
    process.stdout.write(`private key ${files.privateKey} (keep it on the signer only)\npublic key  ${files.publicKey}\nkey id      ${keyId}\n`);
  },
};
