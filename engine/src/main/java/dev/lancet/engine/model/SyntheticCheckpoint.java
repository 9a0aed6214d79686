package dev.lancet.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a random-weight Hugging Face checkpoint of any OPT, Llama, Qwen2 or Mistral shape, for scale tests and
 * gradient checks of shapes the shipped models lack (GQA, biases, project_in/out, post-norm). Weights ~ N(0, std²);
 * norm scales 1 ± 0.1 and biases N(0, std²) so no parameter is trivially neutral. Deterministic for a seed.
 */
public final class SyntheticCheckpoint {

    /** The model_types it writes. */
    public static final List<String> ARCHS = List.of("opt", "llama", "qwen2", "mistral");

    /**
     * @param embedSize OPT's word_embed_proj_dim (= hidden unless project_in/out are wanted)
     * @param bias      OPT's enable_bias, Llama's attention_bias and mlp_bias; Qwen2 and Mistral fix their own
     * @param postNorm  OPT only: do_layer_norm_before=false
     */
    public record Spec(String arch, int vocab, int hidden, int embedSize, int layers, int heads, int kvHeads,
                       int intermediate, int maxPositions, boolean bias, boolean tied, boolean postNorm, DType dtype,
                       double std, long seed) {
        public Spec {
            if (!ARCHS.contains(arch)) {
                throw new IllegalArgumentException("arch must be one of " + String.join(", ", ARCHS) + ", got '"
                        + arch + "'");
            }
            if (postNorm && !arch.equals("opt")) {
                throw new IllegalArgumentException("post-norm blocks are OPT's only, not " + arch + "'s");
            }
        }
    }

    private SyntheticCheckpoint() {
    }

    public static void write(Spec spec, Path outDir) {
        ObjectNode json = config(spec);
        Path configFile = outDir.resolve(Checkpoint.CONFIG);
        ModelFamily family = ModelFamilies.forType(spec.arch(), configFile);
        ModelConfig config = family.parseConfig(json, configFile);
        TensorNames names = family.names();
        SplittableRandom random = new SplittableRandom(spec.seed());
        List<Entry> entries = new ArrayList<>();
        Maker make = new Maker(spec, random, entries);

        make.matrix(names.embedTokens(), config.vocabSize(), config.embedSize());
        if (config.positions() == ModelConfig.Positions.LEARNED_OFFSET_2) {
            make.matrix(names.embedPositions(), config.maxPositions() + 2, config.hiddenSize());
        }
        if (config.projectsEmbeddings()) {
            make.linear(names.projectIn(), config.hiddenSize(), config.embedSize(), false);
            make.linear(names.projectOut(), config.embedSize(), config.hiddenSize(), false);
        }
        ModelLayout layout = LayoutConfig.read(new ConfigReader(json, configFile), config, family.shapeKeys(), names);
        for (int i = 0; i < layout.numBlocks(); i++) {
            BlockLayout block = layout.block(i);
            // the stream's order (norm, attention, norm, MLP) fixes the weights a seed gives
            make.norm(names.attentionNorm(i), block.residualIn(), config.normBias());
            block.linears().subList(0, 4).forEach(make::linear);
            make.norm(names.feedForwardNorm(i), block.residualIn(), config.normBias());
            block.linears().subList(4, block.linears().size()).forEach(make::linear);
        }
        if (config.hasFinalNorm()) {
            make.norm(names.finalNorm(), config.hiddenSize(), config.normBias());
        }
        if (!config.tiedHead()) {
            make.matrix(names.head(), config.vocabSize(), config.embedSize());
        }
        entries.sort(Comparator.comparing(Entry::name));
        try {
            Files.createDirectories(outDir);
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(configFile.toFile(), json);
        } catch (IOException e) {
            throw new CheckpointException(configFile, "cannot write: " + e.getMessage());
        }
        SafetensorsWriter.write(outDir.resolve(Checkpoint.WEIGHTS), Map.of("format", "pt"), entries);
    }

    private static ObjectNode config(Spec s) {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", s.arch());
        c.put("vocab_size", s.vocab());
        c.put("hidden_size", s.hidden());
        c.put("num_hidden_layers", s.layers());
        c.put("num_attention_heads", s.heads());
        c.put("max_position_embeddings", s.maxPositions());
        c.put("tie_word_embeddings", s.tied());
        c.put("torch_dtype", switch (s.dtype()) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        });
        if (s.arch().equals("opt")) {
            c.putArray("architectures").add("OPTForCausalLM");
            c.put("ffn_dim", s.intermediate());
            c.put("word_embed_proj_dim", s.embedSize());
            c.put("do_layer_norm_before", !s.postNorm());
            c.put("activation_function", "relu");
            c.put("enable_bias", s.bias());
            return c;
        }
        // the Llama block and its descendants
        c.putArray("architectures").add(switch (s.arch()) {
            case "qwen2" -> "Qwen2ForCausalLM";
            case "mistral" -> "MistralForCausalLM";
            default -> "LlamaForCausalLM";
        });
        c.put("intermediate_size", s.intermediate());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", 10000.0);
        c.put("hidden_act", "silu");
        switch (s.arch()) {
            case "llama" -> {
                c.put("attention_bias", s.bias());
                c.put("mlp_bias", s.bias());
            }
            case "qwen2" -> c.put("use_sliding_window", false);
            case "mistral" -> c.putNull("sliding_window");
            default -> { }
        }
        return c;
    }

    /** Draws tensors in a fixed order from one random stream. */
    private record Maker(Spec spec, SplittableRandom random, List<Entry> entries) {

        void matrix(String name, long rows, long cols) {
            entries.add(Entry.ofFloats(name + ".weight", spec.dtype(), new long[] {rows, cols},
                    gaussian((int) (rows * cols), 0, spec.std())));
        }

        void linear(LinearLayout l) {
            linear(l.name(), l.out(), l.in(), l.bias());
        }

        void linear(String name, int out, int in, boolean bias) {
            matrix(name, out, in);
            if (bias) {
                entries.add(Entry.ofFloats(name + ".bias", spec.dtype(), new long[] {out}, gaussian(out, 0, spec.std())));
            }
        }

        void norm(String name, int size, boolean bias) {
            entries.add(Entry.ofFloats(name + ".weight", spec.dtype(), new long[] {size}, gaussian(size, 1, 0.1)));
            if (bias) {
                entries.add(Entry.ofFloats(name + ".bias", spec.dtype(), new long[] {size}, gaussian(size, 0, 0.1)));
            }
        }

        private float[] gaussian(int n, double mean, double std) {
            float[] values = new float[n];
            for (int i = 0; i < n; i++) {
                values[i] = (float) (mean + std * normal());
            }
            return values;
        }

        /** Box–Muller, so the stream depends only on SplittableRandom's documented algorithm. */
        private double normal() {
            double u = 1.0 - random.nextDouble();
            return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.nextDouble());
        }
    }
}
