package dev.lancet.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.io.TensorInfo;
import dev.lancet.engine.model.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Checkpoints of the families the shipped models lack, derived from them deterministically: config edits, q/k/v
 * biases from a seeded stream, a narrower embedding with project_in/out. The tests write them with this code, and
 * {@code assets/models/derived/make_reference.py} runs {@link #main} to write the same files before it computes
 * their figures with the independent fp64 reference ({@code reference.json} beside it, which also records each
 * file's SHA-256, so a changed derivation fails rather than compares against another model's figures).
 */
public enum DerivedModel {

    /** tiny-llama with Llama 3 RoPE scaling whose original context (64) is shorter than the windows of 128. */
    LLAMA3_ROPE("llama3-rope", Fixtures.tinyLlama()) {
        @Override
        void derive(ObjectNode config, Weights weights) {
            config.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                    .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 64);
        }
    },
    /** tiny-llama with linear RoPE scaling, written with the older key {@code type}. */
    LINEAR_ROPE("linear-rope", Fixtures.tinyLlama()) {
        @Override
        void derive(ObjectNode config, Weights weights) {
            config.putObject("rope_scaling").put("type", "linear").put("factor", 4.0);
        }
    },
    /** tiny-llama as Qwen2: q/k/v biases uniform in ±0.2, none on o. */
    QWEN2("qwen2", Fixtures.tinyLlama()) {
        @Override
        void derive(ObjectNode config, Weights weights) {
            llamaDescendant(config, "qwen2", "Qwen2ForCausalLM");
            config.put("use_sliding_window", false);
            SplittableRandom random = new SplittableRandom(21);
            for (int layer = 0; layer < config.get("num_hidden_layers").asInt(); layer++) {
                for (String projection : new String[] {"q_proj", "k_proj", "v_proj"}) {
                    String name = "model.layers." + layer + ".self_attn." + projection;
                    int out = (int) weights.shape(name + ".weight")[0];
                    weights.put(name + ".bias", new long[] {out}, uniform(random, out, 0.2f));
                }
            }
        }
    },
    /** tiny-llama as Mistral with a sliding window exactly as long as the windows evaluated (128). */
    MISTRAL("mistral", Fixtures.tinyLlama()) {
        @Override
        void derive(ObjectNode config, Weights weights) {
            llamaDescendant(config, "mistral", "MistralForCausalLM");
            config.put("sliding_window", 128);
            config.put("head_dim", 32);
        }
    },
    /** tiny-opt with post-LayerNorm blocks (do_layer_norm_before=false) and, as opt-350m, no final norm. */
    POST_NORM_OPT("post-norm-opt", Fixtures.tinyOpt()) {
        @Override
        void derive(ObjectNode config, Weights weights) {
            postNorm(config, weights);
        }
    },
    /**
     * The post-norm tiny-opt with a 128-wide embedding (its first 128 columns; the head is tied to it) projected
     * to the 192-wide blocks by project_in and back by project_out: the identity on those columns plus noise
     * uniform in ±0.05, so the model stays a language model.
     */
    PROJECTED_POST_NORM_OPT("projected-post-norm-opt", Fixtures.tinyOpt()) {
        @Override
        void derive(ObjectNode config, Weights weights) {
            postNorm(config, weights);
            int hidden = config.get("hidden_size").asInt();
            int embed = 128;
            config.put("word_embed_proj_dim", embed);
            String tokens = "model.decoder.embed_tokens.weight";
            long vocab = weights.shape(tokens)[0];
            float[] full = weights.floats(tokens);
            float[] narrow = new float[(int) vocab * embed];
            for (int row = 0; row < vocab; row++) {
                System.arraycopy(full, row * hidden, narrow, row * embed, embed);
            }
            weights.put(tokens, new long[] {vocab, embed}, narrow);
            SplittableRandom random = new SplittableRandom(22);
            weights.put("model.decoder.project_in.weight", new long[] {hidden, embed},
                    identityPlusNoise(hidden, embed, random));
            weights.put("model.decoder.project_out.weight", new long[] {embed, hidden},
                    identityPlusNoise(embed, hidden, random));
        }
    };

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Set<DerivedModel> WRITTEN = EnumSet.noneOf(DerivedModel.class);

    private final String key;
    private final Path base;

    DerivedModel(String key, Path base) {
        this.key = key;
        this.base = base;
    }

    /** The name of the model's entry in reference.json and of its directory. */
    public String key() {
        return key;
    }

    abstract void derive(ObjectNode config, Weights weights);

    /** This model under the module's target/derived-models, written once per JVM, with its reference.json entry. */
    public Path dir() {
        Path dir = Path.of("target", "derived-models", key).toAbsolutePath();
        synchronized (WRITTEN) {
            if (WRITTEN.add(this)) {
                writeTo(dir);
                writeJson(dir.resolve("reference.json"), reference().get(key));
            }
        }
        return dir;
    }

    /** The figures of every derived model: assets/models/derived/reference.json. */
    public static JsonNode reference() {
        return readJson(referenceFile());
    }

    public static Path referenceFile() {
        return Fixtures.repoRoot().resolve("assets/models/derived/reference.json");
    }

    /** Writes config.json, model.safetensors and tokenizer.json into {@code dir} (created). */
    public void writeTo(Path dir) {
        ObjectNode config = (ObjectNode) readJson(base.resolve(Checkpoint.CONFIG));
        try (SafetensorsFile weightsFile = SafetensorsFile.open(base.resolve(Checkpoint.WEIGHTS))) {
            Weights weights = new Weights(weightsFile);
            derive(config, weights);
            Files.createDirectories(dir);
            writeJson(dir.resolve(Checkpoint.CONFIG), config);
            SafetensorsWriter.write(dir.resolve(Checkpoint.WEIGHTS), weightsFile.metadata(),
                    new ArrayList<>(weights.entries.values()));
            Files.copy(base.resolve(Checkpoint.TOKENIZER), dir.resolve(Checkpoint.TOKENIZER),
                    StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes every derived model into DIR/&lt;key&gt;: what make_reference.py computes its figures on. */
    public static void main(String[] args) {
        for (DerivedModel model : values()) {
            model.writeTo(Path.of(args[0]).resolve(model.key));
        }
    }

    /** The base checkpoint's tensors, in storage order, as they will be written. */
    static final class Weights {
        private final SafetensorsFile file;
        private final Map<String, Entry> entries = new LinkedHashMap<>();

        Weights(SafetensorsFile file) {
            this.file = file;
            for (TensorInfo t : file.tensors()) {
                entries.put(t.name(), Entry.copyOf(file, t));
            }
        }

        long[] shape(String name) {
            return entries.get(name).shape();
        }

        float[] floats(String name) {
            return file.readFloats(name);
        }

        /** Adds or replaces a tensor, stored as F32. */
        void put(String name, long[] shape, float[] values) {
            entries.put(name, Entry.ofFloats(name, DType.F32, shape, values));
        }

        void remove(String name) {
            entries.remove(name);
        }
    }

    private static void llamaDescendant(ObjectNode config, String modelType, String architecture) {
        config.put("model_type", modelType);
        config.putArray("architectures").add(architecture);
        config.remove("attention_bias");
        config.remove("mlp_bias");
    }

    private static void postNorm(ObjectNode config, Weights weights) {
        config.put("do_layer_norm_before", false);
        weights.remove("model.decoder.final_layer_norm.weight");
        weights.remove("model.decoder.final_layer_norm.bias");
    }

    private static float[] uniform(SplittableRandom random, int n, float scale) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) ((2 * random.nextDouble() - 1) * scale);
        }
        return values;
    }

    /** [rows, cols]: ones on the diagonal plus noise uniform in ±0.05. */
    private static float[] identityPlusNoise(int rows, int cols, SplittableRandom random) {
        float[] values = uniform(random, rows * cols, 0.05f);
        for (int i = 0; i < Math.min(rows, cols); i++) {
            values[i * cols + i] += 1;
        }
        return values;
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeJson(Path file, JsonNode json) {
        try {
            JSON.writeValue(file.toFile(), json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
