// Helpers shared by the browser test and the media benchmark: free ports,
// the wac binary, a wac server, and a Janus server from a temporary
// configuration.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function freeTCPPort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export function freeUDPPort() {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.on('error', fail);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

// wacBinary builds cmd/wac once (or takes $WAC_BIN).
export function wacBinary(dir) {
  if (process.env.WAC_BIN) return process.env.WAC_BIN;
  const bin = join(dir, 'wac');
  execFileSync('go', ['build', '-o', bin, './cmd/wac'], { cwd: repo, stdio: 'inherit' });
  return bin;
}

async function waitHTTP(url, child, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms`);
}

function waitTCP(port, child, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((ok, fail) => {
    const tryOnce = () => {
      if (child.exitCode !== null) return fail(new Error(`${what} exited with ${child.exitCode}`));
      const s = createServer();
      s.once('error', () => ok()); // the port is taken: the server listens
      s.listen(port, '127.0.0.1', () => {
        s.close(() => {
          if (Date.now() > deadline) return fail(new Error(`${what} does not listen on ${port}`));
          setTimeout(tryOnce, 200);
        });
      });
    };
    tryOnce();
  });
}

function logTo(child, name, lines) {
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      for (const l of d.split('\n')) if (l) lines.push(`[${name}] ${l}`);
      if (lines.length > 4000) lines.splice(0, lines.length - 4000);
    });
  }
}

// pinned returns the command and arguments that run cmd on the CPUs in
// cpus (taskset's list, as "0" or "1-3"), or cmd itself when cpus is
// empty. taskset execs cmd, so the process keeps the pid spawn reports.
export function pinned(cmd, args, cpus) {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

// quotaPeriod is the CFS period of a CPU quota, in microseconds: short,
// so that a throttled server stalls for at most a few milliseconds at a
// time, which its socket buffers absorb.
const quotaPeriod = 10000;

// cpuQuota makes a cgroup whose processes together get at most cores of
// CPU time (0.5 = half a core), on cgroup v2 (cpu.max) or v1's cpu
// controller (cpu.cfs_quota_us), and returns the file a process joins it
// by writing its pid to, and remove(). It throws, saying what is missing,
// when neither can be written (it needs root).
export function cpuQuota(name, cores) {
  const quota = Math.round(cores * quotaPeriod);
  if (!(quota > 0)) throw new Error(`CPU quota ${cores}: want a number of cores above 0`);
  const v2 = '/sys/fs/cgroup';
  let dir;
  if (existsSync(join(v2, 'cgroup.controllers'))) {
    writeFileSync(join(v2, 'cgroup.subtree_control'), '+cpu');
    dir = join(v2, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.max'), `${quota} ${quotaPeriod}`);
  } else if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) {
    dir = join('/sys/fs/cgroup/cpu', name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(quotaPeriod));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
  } else {
    throw new Error('CPU quota: no cgroup cpu controller under /sys/fs/cgroup');
  }
  return {
    procs: join(dir, 'cgroup.procs'),
    // The group can be removed once its processes have exited.
    remove() { try { rmdirSync(dir); } catch { /* still in use or gone */ } },
  };
}

// limited returns the command and arguments that run cmd on the CPUs in
// cpus (see pinned) and, when group is a cpuQuota, inside that group: a
// shell joins the group and execs the rest, so the pid is still cmd's.
export function limited(cmd, args, { cpus, group } = {}) {
  const [c, a] = pinned(cmd, args, cpus);
  if (!group) return [c, a];
  return ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', group.procs, c, ...a]];
}

// startWac runs `wac serve` on a free port with a temporary data
// directory; media on 127.0.0.1 only, TURN off; on the CPUs in cpus and
// in the cpuQuota group, if given.
export async function startWac(bin, { udpPort, cpus, group } = {}) {
  const data = tempDir('wac-media-data-');
  const port = await freeTCPPort();
  const udp = udpPort ?? await freeUDPPort();
  const env = {
    ...process.env,
    WAC_MEDIA_LISTEN_IP: '127.0.0.1',
    WAC_MEDIA_UDP_PORT: String(udp),
    WAC_TURN_ENABLED: 'false',
    WAC_LOG_LEVEL: 'info',
  };
  const child = spawn(...limited(bin, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`], { cpus, group }), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  logTo(child, 'wac', log);
  await waitHTTP(`http://127.0.0.1:${port}/healthz`, child, 'wac serve');
  return {
    name: 'openwac',
    child, log, data, port,
    ws: `ws://127.0.0.1:${port}/janus`,
    grant(room, user) {
      return execFileSync(bin, ['bench', 'media', 'grant', '--data', data, '--room', String(room), '--user', user]).toString().trim();
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

// janusInterface is the interface Janus gathers ICE candidates on, from
// $JANUS_ICE_IFACE: Janus never uses the loopback interface, so the run
// against Janus happens in a test network namespace (see .ci/media.sh).
export function janusInterface() {
  return process.env.JANUS_ICE_IFACE || '';
}

export function janusInstalled() {
  return existsSync('/usr/bin/janus');
}

// startJanus runs Debian's janus from a configuration written to a
// temporary directory: VideoRoom over WebSockets on a free port; on the
// CPUs in cpus and in the cpuQuota group, if given.
export async function startJanus(iface, { cpus, group } = {}) {
  const conf = tempDir('janus-conf-');
  const port = await freeTCPPort();
  const libdir = '/usr/lib/x86_64-linux-gnu/janus';
  const lib = existsSync(libdir) ? libdir : '/usr/lib/janus';
  const plugins = ['audiobridge', 'duktape', 'echotest', 'lua', 'nosip', 'recordplay', 'sip', 'streaming', 'textroom', 'videocall', 'voicemail'];
  const transports = ['mqtt', 'nanomsg', 'pfunix', 'rabbitmq', 'http'];
  const rtpBase = 30000 + Math.floor(Math.random() * 20000);
  writeFileSync(join(conf, 'janus.jcfg'), `general: {
	configs_folder = "${conf}"
	plugins_folder = "${lib}/plugins"
	transports_folder = "${lib}/transports"
	events_folder = "${lib}/events"
	loggers_folder = "${lib}/loggers"
	debug_level = 3
	admin_secret = "not-used"
}
certificates: {
}
media: {
	rtp_port_range = "${rtpBase}-${rtpBase + 2000}"
}
nat: {
	nice_debug = false
	ice_enforce_list = "${iface}"
	ignore_mdns = true
}
plugins: {
	disable = "${plugins.map((p) => `libjanus_${p}.so`).join(',')}"
}
transports: {
	disable = "${transports.map((t) => `libjanus_${t}.so`).join(',')}"
}
loggers: {
	disable = "libjanus_jsonlog.so"
}
events: {
	broadcast = false
}
`);
  writeFileSync(join(conf, 'janus.transport.websockets.jcfg'), `general: {
	json = "compact"
	ws = true
	ws_port = ${port}
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
`);
  writeFileSync(join(conf, 'janus.plugin.videoroom.jcfg'), 'general: {\n}\n');
  const child = spawn(...limited('/usr/bin/janus', ['-F', conf, '-C', join(conf, 'janus.jcfg'), '-o'], { cpus, group }), { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  logTo(child, 'janus', log);
  await waitTCP(port, child, 'janus');
  return {
    name: 'janus',
    child, log, port,
    ws: `ws://127.0.0.1:${port}`,
    grant() { return ''; },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(conf, { recursive: true, force: true });
    },
  };
}
