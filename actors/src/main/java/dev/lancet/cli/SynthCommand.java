package dev.lancet.cli;

import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.SyntheticCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Writes a random-weight Hugging Face checkpoint of any OPT, Llama, Qwen2 or Mistral shape, for scale tests. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = {"Write a random-weight Hugging Face checkpoint of any OPT or Llama shape, for scale tests: "
                + "config.json and model.safetensors.",
                "OPT-125m shape: --arch opt --hidden 768 --layers 12 --heads 12 --intermediate 3072 --vocab 50272",
                "Llama 125M-style: --arch llama --hidden 768 --layers 12 --heads 12 --kv-heads 4 --intermediate 2048 --vocab 32000",
                "Qwen2 and Mistral take the Llama flags; Qwen2 always has q/k/v biases, Mistral none."})
final class SynthCommand implements Callable<Integer> {

    @Option(names = "--arch", required = true, description = "opt, llama, qwen2 or mistral.")
    String arch;

    @Option(names = "--hidden", required = true, description = "Hidden size.")
    int hidden;

    @Option(names = "--layers", required = true, description = "Decoder blocks.")
    int layers;

    @Option(names = "--heads", required = true, description = "Attention heads.")
    int heads;

    @Option(names = "--kv-heads", description = "Key/value heads, Llama, Qwen2 and Mistral (default: --heads).")
    Integer kvHeads;

    @Option(names = "--intermediate", required = true, description = "MLP width (OPT ffn_dim, otherwise intermediate_size).")
    int intermediate;

    @Option(names = "--vocab", description = "Vocabulary size (default: ${DEFAULT-VALUE}).")
    int vocab = 4096;

    @Option(names = "--max-positions", description = "max_position_embeddings (default: ${DEFAULT-VALUE}).")
    int maxPositions = 2048;

    @Option(names = "--embed-dim", description = "OPT word_embed_proj_dim (default: --hidden).")
    Integer embedDim;

    @Option(names = "--bias", negatable = true, description = "Biases, OPT and Llama only (OPT enable_bias, Llama attention_bias/mlp_bias; default: OPT yes, Llama no).")
    Boolean bias;

    @Option(names = "--post-norm", description = "OPT: LayerNorm after each residual add and no final norm (do_layer_norm_before=false, as opt-350m).")
    boolean postNorm;

    @Option(names = "--tied", negatable = true, description = "Tie the head to the embedding (default: OPT yes, Llama no).")
    Boolean tied;

    @Option(names = "--dtype", description = "F32, F16 or BF16 (default: ${DEFAULT-VALUE}).")
    DType dtype = DType.F16;

    @Option(names = "--seed", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory (created).")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (bias != null && !arch.equals("opt") && !arch.equals("llama")) {
            throw new IllegalArgumentException(
                    "--bias applies to opt and llama only (Qwen2 always has q/k/v biases, Mistral none)");
        }
        if (dtype == DType.F64) {
            throw new IllegalArgumentException("--dtype must be F32, F16 or BF16");
        }
        boolean opt = arch.equals("opt");
        if (Files.exists(out.resolve("model.safetensors"))) {
            throw new IllegalArgumentException(out + ": already holds a model; choose another --out");
        }
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec(arch, vocab, hidden, embedDim == null ? hidden : embedDim,
                layers, heads, kvHeads == null ? heads : kvHeads, intermediate, maxPositions,
                bias == null ? opt : bias, tied == null ? opt : tied, postNorm, dtype, 0.02, seed), out);
        System.out.println("wrote " + out.resolve("model.safetensors"));
        return 0;
    }
}
