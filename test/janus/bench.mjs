// The media benchmark: our server and Debian's Janus, on the same machine
// in the same run, loaded by `wac bench media` (Pion peers speaking the
// Janus API) from another process. Run it through bench.sh, which makes
// the network namespace Janus needs.
//
// Environment: WAC_BIN (a built wac, else it is built), JANUS_ICE_IFACE,
// FANOUT_STEPS, ROOM_STEPS, WINDOW (seconds counted per step), WARMUP
// (seconds each step settles first; 30 by default, past a fresh server's
// first heap growth, whose page faults a server in service no longer
// pays), SERVER_CPUS and TOOL_CPUS (taskset lists; "" = unpinned),
// SERVER_QUOTA (cores of CPU time each server may use, as 0.5; unset = no
// limit), ALTERNATE (see below).
//
// By default, on a machine of two cores or more, the server under test
// runs on core 0 and the load tool on the others, as a media server and
// its clients run on different machines: sharing cores, each preempts the
// other at every packet and the server's CPU counts those switches.
//
// SERVER_QUOTA measures capacity: a server given less than a core
// saturates at a load the load tool on its own core can still drive, and
// its forwarded packets/s over the CPU it used, at the last step with less
// than 1% loss, is what a busy core carries. Each server gets a cgroup of
// its own (cgroup v2 cpu.max or v1 cpu.cfs_quota_us, 10 ms periods);
// it needs root, as bench.sh does anyway.
//
// With ALTERNATE=R, both servers stay up for a kind of load and every
// step is measured R times against each, alternating (ours, Janus, ours,
// ...), so that a machine whose speed drifts from minute to minute slows
// both alike; a summary of the medians closes the run. A server is not
// loaded further once a step lost 1% or more or failed.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { tempDir, wacBinary, startWac, startJanus, janusInstalled, janusInterface, pinned, cpuQuota } from './lib.mjs';

const fanoutSteps = process.env.FANOUT_STEPS || '25,50,100,200,300,400,500,600';
const roomSteps = process.env.ROOM_STEPS || '2,4,8,12,16,20,25';
const window = `${process.env.WINDOW || 10}s`;
const warmup = `${process.env.WARMUP || 30}s`;
const cores = availableParallelism();
const serverCPUs = process.env.SERVER_CPUS ?? (cores >= 2 ? '0' : '');
const toolCPUs = process.env.TOOL_CPUS ?? (cores >= 2 ? (cores === 2 ? '1' : `1-${cores - 1}`) : '');

const serverQuota = process.env.SERVER_QUOTA ? Number(process.env.SERVER_QUOTA) : 0;
const alternate = Number(process.env.ALTERNATE || 0);

// run runs the load tool and resolves to what it printed (also echoed).
function run(bin, args) {
  return new Promise((ok, fail) => {
    console.log(`$ wac ${args.join(' ')}`);
    const child = spawn(...pinned(bin, args, toolCPUs), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.on('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`wac ${args[0]} exited with ${code}`))));
  });
}

function loadArgs(kind, server) {
  const args = ['bench', 'media', kind, '--url', server.ws, '--pid', String(server.child.pid),
    '--duration', window, '--warmup', warmup, '--any-interface'];
  if (server.name === 'janus') args.push('--janus');
  else args.push('--data', server.data);
  return args;
}

// row parses a step's line of the load tool's table:
// step streams sent recv loss% cpu% pkt/s/core cpu%/stream tool-cpu%.
function row(out) {
  const line = out.split('\n').find((l) => /^(N|rooms)=\d+\s/.test(l));
  if (!line) return null;
  const f = line.trim().split(/\s+/);
  return { loss: Number(f[4]), cpu: Number(f[5]), pktPerCore: Number(f[6]), cpuPerStream: Number(f[7]) };
}

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// alternated measures every step ALTERNATE times against each server,
// taking turns, and prints the medians.
async function alternated(bin, kind, steps, servers) {
  const flag = kind === 'fanout' ? '--subscribers' : '--rooms';
  const done = new Set();
  const results = new Map(); // step -> server name -> rows
  for (const step of steps.split(',')) {
    const byServer = new Map();
    results.set(step, byServer);
    for (let r = 0; r < alternate; r++) {
      for (const server of servers) {
        if (done.has(server.name)) continue;
        let got;
        try {
          got = row(await run(bin, [...loadArgs(kind, server), flag, step]));
        } catch (err) {
          // A saturated server may fail a step outright (Janus answers
          // "No such feed" to a subscriber of a publisher it is still
          // setting up): it is loaded no further.
          console.log(`${server.name} at ${step}: ${err.message}; no further steps for it`);
          done.add(server.name);
          continue;
        }
        if (!got) continue;
        if (!byServer.has(server.name)) byServer.set(server.name, []);
        byServer.get(server.name).push(got);
        if (got.loss >= 1) done.add(server.name);
      }
    }
  }
  const names = servers.map((s) => s.name);
  console.log(`\n${kind}: medians of ${alternate} alternated runs per step`);
  console.log(['step', ...names.flatMap((n) => [`${n} loss%`, `${n} cpu%`, `${n} pkt/s/core`, `${n} cpu%/stream`]),
    'streams per core, ours / janus'].join(' | '));
  for (const [step, byServer] of results) {
    const cells = [step];
    const perStream = {};
    for (const n of names) {
      const rows = byServer.get(n) || [];
      if (!rows.length) { cells.push('', '', '', ''); continue; }
      perStream[n] = median(rows.map((x) => x.cpuPerStream));
      cells.push(median(rows.map((x) => x.loss)).toFixed(2), String(median(rows.map((x) => x.cpu))),
        String(Math.round(median(rows.map((x) => x.pktPerCore)))), perStream[n].toFixed(3));
    }
    const ok = perStream.openwac > 0 && perStream.janus > 0 && (byServer.get('janus') || []).every((x) => x.loss < 1);
    cells.push(ok ? `${(perStream.janus / perStream.openwac).toFixed(2)}x` : '');
    console.log(cells.join(' | '));
  }
}

const work = tempDir('wac-media-bench-');
try {
  const bin = wacBinary(work);
  console.log(`server on CPUs ${serverCPUs || 'all'}${serverQuota ? `, at most ${serverQuota} core` : ''}, load tool on CPUs ${toolCPUs || 'all'}`);
  // withQuota starts a server inside a cpuQuota group of its own, when
  // SERVER_QUOTA asks for one, and removes the group when it stops.
  const withQuota = (name, start) => async () => {
    if (!serverQuota) return start(undefined);
    const group = cpuQuota(`wac-bench-${process.pid}-${name}`, serverQuota);
    let server;
    try {
      server = await start(group);
    } catch (err) {
      group.remove();
      throw err;
    }
    const stop = server.stop.bind(server);
    server.stop = async () => { await stop(); group.remove(); };
    return server;
  };
  const servers = [withQuota('openwac', (group) => startWac(bin, { cpus: serverCPUs, group }))];
  if (janusInstalled() && janusInterface()) {
    servers.push(withQuota('janus', (group) => startJanus(janusInterface(), { cpus: serverCPUs, group })));
  } else {
    console.log('janus left out: it needs /usr/bin/janus and JANUS_ICE_IFACE (see bench.sh)');
  }
  for (const kind of ['fanout', 'rooms']) {
    const steps = kind === 'fanout' ? fanoutSteps : roomSteps;
    if (alternate > 0) {
      const up = [];
      try {
        for (const start of servers) up.push(await start());
        await alternated(bin, kind, steps, up);
      } finally {
        for (const server of up) await server.stop();
      }
      continue;
    }
    for (const start of servers) {
      const server = await start();
      try {
        await run(bin, [...loadArgs(kind, server), kind === 'fanout' ? '--subscribers' : '--rooms', steps]);
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
