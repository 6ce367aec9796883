// The media benchmark: our server and Debian's Janus, on the same machine
// in the same run, loaded by `wac bench media` (Pion peers speaking the
// Janus API) from another process. Run it through bench.sh, which makes
// the network namespace Janus needs.
//
// Environment: WAC_BIN (a built wac, else it is built), JANUS_ICE_IFACE,
// FANOUT_STEPS, ROOM_STEPS, WINDOW (seconds counted per step), WARMUP
// (seconds each step settles first), SERVER_CPUS and TOOL_CPUS (taskset
// lists; "" = unpinned).
//
// By default, on a machine of two cores or more, the server under test
// runs on core 0 and the load tool on the others, as a media server and
// its clients run on different machines: sharing cores, each preempts the
// other at every packet and the server's CPU counts those switches.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { tempDir, wacBinary, startWac, startJanus, janusInstalled, janusInterface, pinned } from './lib.mjs';

const fanoutSteps = process.env.FANOUT_STEPS || '25,50,100,200,300,400,500,600';
const roomSteps = process.env.ROOM_STEPS || '2,4,8,12,16,20,25';
const window = `${process.env.WINDOW || 10}s`;
const warmup = `${process.env.WARMUP || 4}s`;
const cores = availableParallelism();
const serverCPUs = process.env.SERVER_CPUS ?? (cores >= 2 ? '0' : '');
const toolCPUs = process.env.TOOL_CPUS ?? (cores >= 2 ? (cores === 2 ? '1' : `1-${cores - 1}`) : '');

function run(bin, args) {
  return new Promise((ok, fail) => {
    console.log(`$ wac ${args.join(' ')}`);
    const child = spawn(...pinned(bin, args, toolCPUs), { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`wac ${args[0]} exited with ${code}`))));
  });
}

const work = tempDir('wac-media-bench-');
try {
  const bin = wacBinary(work);
  console.log(`server on CPUs ${serverCPUs || 'all'}, load tool on CPUs ${toolCPUs || 'all'}`);
  const servers = [() => startWac(bin, { cpus: serverCPUs })];
  if (janusInstalled() && janusInterface()) {
    servers.push(() => startJanus(janusInterface(), { cpus: serverCPUs }));
  } else {
    console.log('janus left out: it needs /usr/bin/janus and JANUS_ICE_IFACE (see bench.sh)');
  }
  for (const kind of ['fanout', 'rooms']) {
    for (const start of servers) {
      const server = await start();
      try {
        const args = ['bench', 'media', kind, '--url', server.ws, '--pid', String(server.child.pid),
          '--duration', window, '--warmup', warmup, '--any-interface'];
        if (server.name === 'janus') args.push('--janus');
        else args.push('--data', server.data);
        if (kind === 'fanout') args.push('--subscribers', fanoutSteps);
        else args.push('--rooms', roomSteps);
        await run(bin, args);
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
