// The competitor: Debian's Ansible doing the same deploy to the same number
// of hosts. 200 inventory hosts bench-0..bench-199, all on this machine
// (ansible_connection=local), each with its own root; forks 50; facts not
// gathered (gathering = explicit) and pipelining on, Ansible's fast settings.
// The playbook does per host what the agent does: export the commit from the
// bare repository (git archive | tar -x) into releases/<id>, run the
// pre-link script in it, switch `current` atomically (a new symlink renamed
// over it), run the post-deploy script.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import type { BenchTag } from "./bench-repo.ts";
import { benchApp, hostDirs } from "./host-dirs.ts";

const playbook = (serial: number) => `# bench/rollout: the agent's steps, as an Ansible playbook.
- name: deploy the bench app
  hosts: all
  gather_facts: false
${serial > 0 ? `  serial: ${serial}\n` : ""}  vars:
    app_dir: "{{ root_dir }}/${benchApp}"
    release_dir: "{{ app_dir }}/releases/{{ release_id }}"
  tasks:
    - name: export the commit into releases/<id>
      ansible.builtin.shell: >-
        mkdir -p {{ release_dir | quote }} &&
        git --git-dir={{ mirror | quote }} archive --format=tar {{ sha | quote }} | tar -x -C {{ release_dir | quote }}
    - name: pre-link script
      ansible.builtin.command:
        cmd: ./bin/pre-link
        chdir: "{{ release_dir }}"
    - name: switch current atomically
      ansible.builtin.shell: ln -sfn {{ ('releases/' + release_id) | quote }} current.tmp && mv -T current.tmp current
      args:
        chdir: "{{ app_dir }}"
    - name: post-deploy script
      ansible.builtin.command:
        cmd: ./bin/post-deploy
        chdir: "{{ release_dir }}"
`;

export interface AnsibleRun {
  wallMs: number;
  /** Hosts whose recap says ok=4 and nothing failed. */
  hostsOk: number;
}

export class AnsibleRollout {
  readonly dir: string;
  readonly base: string;
  readonly hosts: number;
  readonly mirror: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(base: string, hosts: number, mirror: string, options: { forks: number; serial: number }) {
    this.base = base;
    this.hosts = hosts;
    this.mirror = mirror;
    this.dir = join(base, "ansible-control");
    mkdirSync(join(this.dir, "tmp"), { recursive: true });
    const inventory = ["[bench]"];
    for (let i = 0; i < hosts; i++) {
      const dirs = hostDirs(base, "ansible", i);
      mkdirSync(dirs.root, { recursive: true });
      inventory.push(`${dirs.identity} root_dir=${dirs.root}`);
    }
    inventory.push("", "[all:vars]", "ansible_connection=local", "ansible_python_interpreter=/usr/bin/python3", "");
    writeFileSync(join(this.dir, "inventory.ini"), inventory.join("\n"));
    writeFileSync(join(this.dir, "deploy.yml"), playbook(options.serial));
    writeFileSync(
      join(this.dir, "ansible.cfg"),
      [
        "[defaults]",
        `inventory = ${join(this.dir, "inventory.ini")}`,
        `forks = ${options.forks}`,
        "gathering = explicit",
        "host_key_checking = False",
        "retry_files_enabled = False",
        "interpreter_python = /usr/bin/python3",
        `local_tmp = ${join(this.dir, "tmp")}`,
        `remote_tmp = ${join(this.dir, "tmp")}`,
        "nocows = 1",
        "",
        "[connection]",
        "pipelining = True",
        "",
      ].join("\n"),
    );
    this.#env = { ...process.env, ANSIBLE_CONFIG: join(this.dir, "ansible.cfg"), ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0" };
  }

  /** ansible-playbook's version line; throws with the install command when it is missing. */
  static async version(): Promise<string> {
    try {
      const { stdout } = await execa("ansible-playbook", ["--version"]);
      return stdout.split("\n")[0] ?? stdout;
    } catch (err) {
      throw new Error(
        `ansible-playbook cannot run (${(err as Error).message.split("\n")[0]}): install Debian's Ansible with \`apt-get install -y ansible\`, or leave Ansible out with --sides`,
      );
    }
  }

  /** Runs the playbook for every host; the release is named <label>-<sha12>. Throws unless every host succeeded. */
  async run(tag: BenchTag, label: string): Promise<AnsibleRun> {
    const vars = { sha: tag.sha, release_id: `${label}-${tag.sha.slice(0, 12)}`, mirror: this.mirror };
    const started = performance.now();
    const result = await execa("ansible-playbook", [join(this.dir, "deploy.yml"), "--extra-vars", JSON.stringify(vars)], {
      cwd: this.dir,
      env: this.#env,
      reject: false,
      maxBuffer: 64 * 1024 * 1024,
    });
    const wallMs = performance.now() - started;
    const recap = [...result.stdout.matchAll(/^(\S+)\s+:\s+ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
    const hostsOk = recap.filter((line) => line[2] === "4" && line[3] === "0" && line[4] === "0").length;
    if (result.exitCode !== 0 || hostsOk !== this.hosts) {
      const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-15).join("\n");
      throw new Error(`ansible-playbook exited ${result.exitCode} with ${hostsOk} of ${this.hosts} hosts ok:\n${tail}`);
    }
    return { wallMs, hostsOk };
  }
}
