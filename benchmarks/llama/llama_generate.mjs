// Greedy generation with llama.cpp (node-llama-cpp) on a GGUF file, for the export test:
//
//   node llama_generate.mjs --model FILE (--prompt TEXT | --tokens 1,2,3) --n N [--threads T]
//
// --prompt is tokenized by llama.cpp (BOS prepended when the file's add_bos_token says so);
// --tokens gives the prompt's ids directly. Generation is greedy (argmax of the logits, no
// penalties), one token at a time, and stops after N tokens or at an end-of-generation token.
// Prints one JSON object: {prompt_tokens, tokens, text, eos, llama_cpp, node_llama_cpp}, where
// `text` is llama.cpp's detokenization of the generated tokens (end token excluded).
import {cpuLlama, installDir, loadNodeLlamaCpp, main, parseArgs} from "./llama_common.mjs";

await main(async () => {
    const args = parseArgs(process.argv.slice(2), {
        "model": {required: true}, "prompt": {}, "tokens": {}, "n": {int: true, required: true},
        "threads": {int: true, default: 1}, "llama-dir": {},
    });
    if ((args.prompt === undefined) === (args.tokens === undefined))
        throw new Error("give exactly one of --prompt and --tokens");
    const {module, version, llamaCppTag} = await loadNodeLlamaCpp(installDir(args["llama-dir"]));
    const llama = await cpuLlama(module);
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
    let prompt;
    if (args.tokens !== undefined) {
        prompt = args.tokens.split(",").filter((s) => s !== "").map((s) => {
            if (!/^\d+$/.test(s)) throw new Error(`--tokens: '${s}' is not a token id`);
            return Number(s);
        });
    } else {
        prompt = Array.from(model.tokenize(args.prompt));
        const bos = model.tokens.bos;
        if (model.tokens.shouldPrependBosToken && bos != null && prompt[0] !== bos)
            prompt.unshift(bos);
    }
    if (prompt.length === 0) throw new Error("the prompt has no tokens");
    const context = await model.createContext({
        contextSize: Math.max(256, prompt.length + args.n), threads: args.threads, sequences: 1,
    });
    const sequence = context.getSequence();
    const tokens = [];
    let eos = false;
    if (args.n > 0) {
        for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
            if (model.isEogToken(token)) { eos = true; break; }
            tokens.push(token);
            if (tokens.length >= args.n) break;
        }
    }
    const text = model.detokenize(tokens);
    process.stdout.write(JSON.stringify({prompt_tokens: prompt, tokens, text, eos,
                                         llama_cpp: llamaCppTag, node_llama_cpp: version}) + "\n");
    await context.dispose();
    await model.dispose();
    await llama.dispose();
});
