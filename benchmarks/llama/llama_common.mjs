// Shared by the llama.cpp side of the comparison (llama_bench.mjs) and the export test
// (llama_generate.mjs): loads node-llama-cpp from the local install folder that
// benchmarks/compare_llama_cpp.sh (or tests/python/test_llama_export.py) fills with
// `npm install node-llama-cpp@<pinned>`, and uses only its prebuilt CPU binaries.
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

// The folder holding node_modules/node-llama-cpp: --llama-dir, else $MOBILELLM_LLAMA_CPP_DIR,
// else benchmarks/.llama-cpp next to this script's folder.
export function installDir(argValue) {
    const dir = argValue ?? process.env.MOBILELLM_LLAMA_CPP_DIR ??
        path.join(path.dirname(new URL(import.meta.url).pathname), "..", ".llama-cpp");
    return path.resolve(dir);
}

export async function loadNodeLlamaCpp(dir) {
    const pkgDir = path.join(dir, "node_modules", "node-llama-cpp");
    const pkgJson = path.join(pkgDir, "package.json");
    if (!fs.existsSync(pkgJson))
        throw new Error(`node-llama-cpp is not installed in ${dir} (no ${pkgJson}); ` +
                        "run benchmarks/compare_llama_cpp.sh --install-only");
    const version = JSON.parse(fs.readFileSync(pkgJson, "utf8")).version;
    const module = await import(pathToFileURL(path.join(pkgDir, "dist", "index.js")).href);
    const llamaCppInfo = path.join(pkgDir, "llama", "llama.cpp.info.json");
    const llamaCppTag = fs.existsSync(llamaCppInfo)
        ? JSON.parse(fs.readFileSync(llamaCppInfo, "utf8")).tag : "unknown";
    return {module, version, llamaCppTag};
}

// A CPU-only llama.cpp from the prebuilt binaries: never builds from source, never downloads.
export async function cpuLlama(module) {
    return module.getLlama({
        gpu: false,
        build: "never",
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        logLevel: module.LlamaLogLevel.error,
    });
}

// Minimal "--name value" / "--flag" parsing; every option must be known.
export function parseArgs(argv, spec) {
    const out = {};
    for (const [name, def] of Object.entries(spec))
        if (def.default !== undefined) out[name] = def.default;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith("--") || !(a.slice(2) in spec))
            throw new Error(`unknown argument ${a}; known: ` +
                            Object.keys(spec).map((k) => "--" + k).join(" "));
        const name = a.slice(2);
        if (spec[name].flag) { out[name] = true; continue; }
        if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
        const v = argv[++i];
        if (spec[name].int) {
            if (!/^\d+$/.test(v))
                throw new Error(`${a} expects a non-negative integer, got '${v}'`);
            out[name] = Number(v);
        } else {
            out[name] = v;
        }
    }
    for (const [name, def] of Object.entries(spec))
        if (def.required && out[name] === undefined) throw new Error(`--${name} is required`);
    return out;
}

export async function main(fn) {
    try {
        await fn();
        process.exit(0);
    } catch (e) {
        process.stderr.write(`${path.basename(process.argv[1])}: error: ${e.message}\n`);
        process.exit(1);
    }
}
