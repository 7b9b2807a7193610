// BullMQ driver: node bullmq_driver.cjs WORKLOAD PARAMS_JSON -> prints "RESULT {json}".
// Same workloads as the Python drivers (see benchmarks/peers/__init__.py): one Worker
// with concurrency 10 in this process, Queue.add / Queue.addBulk to enqueue.
"use strict";
const { Queue, Worker } = require("bullmq");

const [workload, raw] = process.argv.slice(2);
const params = JSON.parse(raw);
const url = new URL(params.redis_url);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const name = "cqbench" + Math.random().toString(16).slice(2, 10);
const concurrency = params.concurrency || 10;
const now = () => Number(process.hrtime.bigint()) / 1e9;

function percentile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.min(s.length - 1, Math.ceil((q / 100) * s.length) - 1))];
}

async function throughput(n, live) {
  const queue = new Queue(name, { connection });
  let count = 0;
  let resolve;
  const done = new Promise((r) => (resolve = r));
  const opts = { removeOnComplete: true, removeOnFail: true };
  const start = () =>
    new Worker(name, async () => { if (++count === n) resolve(); }, { connection, concurrency });
  let worker, t0;
  let c0;
  if (live) {
    worker = start();
    await worker.waitUntilReady();
    t0 = now();
    c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await queue.add("noop", { i }, opts);
  } else {
    for (let i = 0; i < n; i++) await queue.add("noop", { i }, opts);
    t0 = now();
    c0 = process.cpuUsage();
    worker = start();
  }
  await done;
  const seconds = now() - t0;
  const cpu = process.cpuUsage(c0);
  await worker.close();
  await queue.close();
  return { seconds, cpu_us_per_job: (cpu.user + cpu.system) / n };
}

async function enqueue(n, bulk, tasks) {
  const queue = new Queue(name, { connection });
  const opts = { removeOnComplete: true, removeOnFail: true };
  const t0 = now();
  if (tasks > 1) {
    // `tasks` producers at once (Promise.all), each awaiting its adds one by one
    const producer = async (first) => {
      for (let i = first; i < n; i += tasks) await queue.add("noop", { i }, opts);
    };
    const all = [];
    for (let k = 0; k < tasks; k++) all.push(producer(k));
    await Promise.all(all);
  } else if (bulk) {
    for (let s = 0; s < n; s += 1000) {
      const jobs = [];
      for (let i = s; i < Math.min(n, s + 1000); i++) jobs.push({ name: "noop", data: { i }, opts });
      await queue.addBulk(jobs);
    }
  } else {
    for (let i = 0; i < n; i++) await queue.add("noop", { i }, opts);
  }
  const seconds = now() - t0;
  await queue.obliterate({ force: true });
  await queue.close();
  return { seconds };
}

async function latency(samples) {
  const queue = new Queue(name, { connection });
  const lat = [];
  let resolve;
  const worker = new Worker(
    name,
    async (job) => { lat.push(now() - job.data.t0); resolve(); },
    { connection, concurrency },
  );
  await worker.waitUntilReady();
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < samples; i++) {
    const ran = new Promise((r) => (resolve = r));
    await queue.add("stamp", { t0: now() }, { removeOnComplete: true });
    await ran;
    await new Promise((r) => setTimeout(r, 1));
  }
  await worker.close();
  await queue.close();
  return { p50_ms: percentile(lat, 50) * 1e3, p99_ms: percentile(lat, 99) * 1e3 };
}

(async () => {
  let result;
  if (workload === "live" || workload === "drain") result = await throughput(params.n, workload === "live");
  else if (workload === "enqueue" || workload === "enqueue_bulk") result = await enqueue(params.n, workload === "enqueue_bulk", 1);
  else if (workload === "enqueue_concurrent") result = await enqueue(params.n, false, params.tasks);
  else if (workload === "latency") result = await latency(params.samples);
  else { console.log("SKIP no such workload"); process.exit(0); }
  console.log("RESULT " + JSON.stringify(result));
  process.exit(0);
})().catch((err) => { console.error(err); process.exit(1); });
