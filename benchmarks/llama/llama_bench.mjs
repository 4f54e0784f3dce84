// llama-bench's pp and tg tests, run through node-llama-cpp's prebuilt llama.cpp (the npm package
// ships no llama-bench binary and its CLI has no speed test):
//
//   node llama_bench.mjs --model FILE [--n-prompt P] [--n-gen N] [--n-depth D] [--threads T]
//                        [--reps R] [--seed S] [--flash-attn auto|on|off] [--no-warmup]
//                        [--max-seconds S]
//
// Runs the pp test (P > 0) and the tg test (N > 0) like llama-bench does: one warm-up (a P-token
// prompt and one generated token), then per repetition: clear the KV cache, prefill D tokens
// (untimed), then the timed part:
//   pp: the P prompt tokens, evaluated in batches of 512 (one batch for pp512) with the output
//       (logits) of the last token computed, as llama-bench's llama_batch_get_one does;
//   tg: N decode steps of one token each, every step computing its logits.
// Token ids are random (seeded), as in llama-bench: no tokenization and no sampling. What is
// timed is node-llama-cpp's decodeBatch(): llama_decode + llama_synchronize on a libuv worker
// thread, plus the hand-off of each step between the JavaScript thread and that worker (tens of
// microseconds per call; llama-bench calls llama_decode directly). The context matches
// llama-bench's defaults: n_ubatch = n_batch = 512, F16 KV cache, the given threads for both
// prompt and generation; flash attention "auto" is llama.cpp's library default.
//
// --max-seconds bounds a tg repetition: once its decode steps have taken S seconds it stops, and
// its rate is over the steps done (the row's samples_gen holds how many). llama.cpp's threads
// meet at spin barriers many times per token, so on an oversubscribed machine a 2-thread decode
// can slow down a hundredfold while a thread waits for its core; the bound keeps such a run from
// taking an hour. 0 (the default) means no bound.
//
// Prints one JSON array of rows with llama-bench's field names (n_prompt, n_gen, n_depth,
// n_threads, samples_ns, samples_ts, avg_ns, avg_ts, stddev_ts, model_*, ...).
import os from "node:os";
import fs from "node:fs";
import {cpuLlama, installDir, loadNodeLlamaCpp, main, parseArgs} from "./llama_common.mjs";

const N_BATCH = 512;

function mean(v) { return v.reduce((a, b) => a + b, 0) / v.length; }
function stddev(v) {  // sample standard deviation, as llama-bench
    if (v.length < 2) return 0;
    const m = mean(v);
    return Math.sqrt(v.reduce((a, x) => a + (x - m) * (x - m), 0) / (v.length - 1));
}

// xorshift64*: a seeded stream of token ids in [0, vocab).
function tokenStream(seed, vocab) {
    let s = BigInt.asUintN(64, BigInt(seed) * 0x9E3779B97F4A7C15n + 1n);
    return () => {
        s ^= s >> 12n; s ^= BigInt.asUintN(64, s << 25n); s ^= s >> 27n;
        return Number((BigInt.asUintN(64, s * 0x2545F4914F6CDD1Dn) >> 33n) % BigInt(vocab));
    };
}

await main(async () => {
    const args = parseArgs(process.argv.slice(2), {
        "model": {required: true}, "n-prompt": {int: true, default: 512},
        "n-gen": {int: true, default: 128}, "n-depth": {int: true, default: 0},
        "threads": {int: true, default: 1}, "reps": {int: true, default: 5},
        "seed": {int: true, default: 0}, "flash-attn": {default: "auto"},
        "no-warmup": {flag: true}, "max-seconds": {int: true, default: 0}, "llama-dir": {},
    });
    if (!["auto", "on", "off"].includes(args["flash-attn"]))
        throw new Error(`--flash-attn expects auto, on or off, got '${args["flash-attn"]}'`);
    if (args.threads < 1) throw new Error("--threads must be at least 1");
    if (args.reps < 1) throw new Error("--reps must be at least 1");
    if (args["n-prompt"] === 0 && args["n-gen"] === 0)
        throw new Error("nothing to run: --n-prompt 0 and --n-gen 0");

    const {module, version, llamaCppTag} = await loadNodeLlamaCpp(installDir(args["llama-dir"]));
    const llama = await cpuLlama(module);
    const loadStart = process.hrtime.bigint();
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0, useMmap: true});
    const loadNs = Number(process.hrtime.bigint() - loadStart);
    const vocab = model.fileInsights.vocabularySize ?? model.fileInfo.metadata.llama?.vocab_size;
    if (!Number.isInteger(vocab) || vocab <= 0)
        throw new Error(`${args.model}: no vocabulary size`);
    const depth = args["n-depth"];
    const need = depth + Math.max(args["n-prompt"], 1) + args["n-gen"];
    const flash = {auto: "auto", on: true, off: false}[args["flash-attn"]];
    const context = await model.createContext({
        contextSize: Math.ceil(need / 256) * 256, batchSize: N_BATCH, threads: args.threads,
        sequences: 1, flashAttention: flash,
    });
    // The addon context under LlamaContext (the object its own batching calls): initBatch,
    // addToBatch(sequence, first position, tokens, indexes with logits), decodeBatch().
    const ctx = context._ctx;
    if (!ctx || typeof ctx.decodeBatch !== "function")
        throw new Error(`node-llama-cpp ${version}: the context has no decodeBatch (API changed)`);

    async function decode(tokens, position) {  // batches of at most N_BATCH, last token's logits
        for (let i = 0; i < tokens.length; i += N_BATCH) {
            const chunk = tokens.slice(i, i + N_BATCH);
            ctx.initBatch(chunk.length);
            ctx.addToBatch(0, position + i, Uint32Array.from(chunk),
                           Uint32Array.of(chunk.length - 1));
            await ctx.decodeBatch();
        }
    }
    function clear() {
        if (!ctx.removeTokenCellsFromSequence(0, -1, -1))
            throw new Error("could not clear the KV cache");
    }

    const rows = [];
    const tests = [];
    if (args["n-prompt"] > 0) tests.push({n_prompt: args["n-prompt"], n_gen: 0});
    if (args["n-gen"] > 0) tests.push({n_prompt: 0, n_gen: args["n-gen"]});
    for (const test of tests) {
        const next = tokenStream(args.seed * 1000003 + test.n_prompt * 131 + test.n_gen, vocab);
        const draw = (n) => Array.from({length: n}, next);
        const depthTokens = draw(depth), prompt = draw(test.n_prompt), gen = draw(test.n_gen);
        if (!args["no-warmup"]) {  // as llama-bench: the prompt (if any), and one generated token
            clear();
            if (test.n_prompt > 0) await decode(prompt, 0);
            else await decode(gen.slice(0, 1), 0);
        }
        const samples = [], samplesGen = [];
        const maxNs = BigInt(args["max-seconds"]) * 1000000000n;
        for (let r = 0; r < args.reps; r++) {
            clear();
            if (depth > 0) await decode(depthTokens, 0);
            const t0 = process.hrtime.bigint();
            let done = test.n_gen;
            if (test.n_prompt > 0) {
                await decode(prompt, depth);
            } else {
                for (let i = 0; i < test.n_gen; i++) {
                    ctx.initBatch(1);
                    ctx.addToBatch(0, depth + i, Uint32Array.of(gen[i]), Uint32Array.of(0));
                    await ctx.decodeBatch();
                    if (maxNs > 0n && process.hrtime.bigint() - t0 > maxNs) {
                        done = i + 1;
                        break;
                    }
                }
            }
            samples.push(Number(process.hrtime.bigint() - t0));
            samplesGen.push(done);
        }
        const ts = samples.map((ns, r) => (test.n_prompt + samplesGen[r]) * 1e9 / ns);
        rows.push({
            runtime: "llama.cpp",
            build_commit: llamaCppTag,
            node_llama_cpp: version,
            cpu_info: os.cpus()[0]?.model ?? "unknown",
            backend: "CPU",
            llama_system_info: llama.systemInfo,
            model_filename: args.model,
            model_type: model.typeDescription,
            model_size: fs.statSync(args.model).size,
            model_n_params: model.fileInsights.totalParameters ?? null,
            load_ns: loadNs,
            n_batch: N_BATCH, n_ubatch: N_BATCH, n_threads: args.threads,
            type_k: "f16", type_v: "f16", flash_attn: args["flash-attn"],
            n_prompt: test.n_prompt, n_gen: test.n_gen, n_depth: depth,
            warmup: !args["no-warmup"],
            test_time: new Date().toISOString(),
            avg_ns: Math.round(mean(samples)), stddev_ns: Math.round(stddev(samples)),
            avg_ts: mean(ts), stddev_ts: stddev(ts),
            samples_ns: samples, samples_ts: ts,
            samples_gen: samplesGen, truncated: samplesGen.some((g) => g < test.n_gen),
        });
    }
    process.stdout.write(JSON.stringify(rows, null, 1) + "\n");
    await context.dispose();
    await model.dispose();
    await llama.dispose();
});
