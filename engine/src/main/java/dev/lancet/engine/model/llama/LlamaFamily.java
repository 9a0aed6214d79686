package dev.lancet.engine.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.model.ConfigReader;
import dev.lancet.engine.model.LayoutConfig;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelFamily;
import dev.lancet.engine.model.TensorNames;
import dev.lancet.engine.nn.RopeScaling;
import java.nio.file.Path;

/**
 * Llama and its GQA descendants: RMSNorm, RoPE (optionally scaled), SiLU-gated MLP, optional biases, tied or
 * untied head. Qwen2 and Mistral reuse its block config and tensor names.
 */
public final class LlamaFamily implements ModelFamily {

    @Override
    public String modelType() {
        return "llama";
    }

    @Override
    public ModelConfig parseConfig(JsonNode json, Path configFile) {
        ConfigReader c = new ConfigReader(json, configFile);
        boolean attentionBias = c.optBoolean("attention_bias", false);
        return parseBlockConfig(c, modelType(), new Biases(attentionBias, attentionBias, c.optBoolean("mlp_bias", false)),
                ModelConfig.NO_SLIDING_WINDOW);
    }

    /** Which of the block's linear layers carry a bias: q/k/v, o, and the MLP's. */
    public record Biases(boolean qkv, boolean output, boolean mlp) {
    }

    /**
     * The config of the Llama block, which Llama's descendants share key for key; their own keys decide the
     * model_type, biases and sliding window.
     */
    public static ModelConfig parseBlockConfig(ConfigReader c, String modelType, Biases biases, int slidingWindow) {
        int hidden = c.requireInt("hidden_size");
        String activation = c.optString("hidden_act", "silu");
        if (!activation.equals("silu")) {
            throw c.error("hidden_act '" + activation + "' is not supported (" + modelType + " uses silu)");
        }
        return new ModelConfig(modelType, c.requireInt("vocab_size"), hidden, hidden,
                c.requireInt("max_position_embeddings"), ModelConfig.NormKind.RMS_NORM, c.optDouble("rms_norm_eps", 1e-6),
                ModelConfig.Positions.ROTARY, c.optDouble("rope_theta", 10000.0), ModelConfig.FeedForwardKind.SILU_GATED,
                biases.qkv(), biases.output(), biases.mlp(), false, c.optBoolean("tie_word_embeddings", false),
                ModelConfig.NormPlacement.PRE_NORM, ropeScaling(c), slidingWindow);
    }

    /** Hugging Face's rope_scaling block: absent, or rope_type (older configs: type) default, linear or llama3. */
    private static RopeScaling ropeScaling(ConfigReader config) {
        if (!config.has("rope_scaling")) {
            return RopeScaling.UNSCALED;
        }
        ConfigReader c = config.object("rope_scaling");
        String type = c.has("type") && !c.has("rope_type") ? c.requireString("type") : c.requireString("rope_type");
        return switch (type) {
            case "default" -> RopeScaling.UNSCALED;
            case "linear" -> new RopeScaling.Linear(c.requireDouble("factor"));
            case "llama3" -> {
                double factor = c.requireDouble("factor");
                double low = c.requireDouble("low_freq_factor");
                double high = c.requireDouble("high_freq_factor");
                int original = c.requireInt("original_max_position_embeddings");
                if (high <= low) {
                    throw c.error("rope_scaling high_freq_factor " + high + " must exceed low_freq_factor " + low);
                }
                yield new RopeScaling.Llama3(factor, low, high, original);
            }
            default -> throw c.error("rope_scaling type '" + type
                    + "' is not supported (supported: default, linear, llama3)");
        };
    }

    @Override
    public LayoutConfig.ShapeKeys shapeKeys() {
        return KEYS;
    }

    /** The block-size keys of Llama's config, which its descendants share. */
    public static final LayoutConfig.ShapeKeys KEYS =
            new LayoutConfig.ShapeKeys("num_attention_heads", "num_key_value_heads", "intermediate_size");

    @Override
    public TensorNames names() {
        return NAMES;
    }

    /** Llama's tensor names, which Qwen2 and Mistral keep. */
    public static final TensorNames NAMES = new TensorNames() {
        @Override
        public String embedTokens() {
            return "model.embed_tokens";
        }

        @Override
        public String embedPositions() {
            throw new UnsupportedOperationException("Llama has no learned positions");
        }

        @Override
        public String projectIn() {
            throw new UnsupportedOperationException("Llama has no project_in");
        }

        @Override
        public String projectOut() {
            throw new UnsupportedOperationException("Llama has no project_out");
        }

        @Override
        public String finalNorm() {
            return "model.norm";
        }

        @Override
        public String head() {
            return "lm_head";
        }

        @Override
        public String attentionNorm(int layer) {
            return layer(layer) + "input_layernorm";
        }

        @Override
        public String feedForwardNorm(int layer) {
            return layer(layer) + "post_attention_layernorm";
        }

        @Override
        public String linear(int layer, LinearRole role) {
            return layer(layer) + switch (role) {
                case Q -> "self_attn.q_proj";
                case K -> "self_attn.k_proj";
                case V -> "self_attn.v_proj";
                case O -> "self_attn.o_proj";
                case GATE -> "mlp.gate_proj";
                case UP -> "mlp.up_proj";
                case DOWN -> "mlp.down_proj";
            };
        }

        private String layer(int layer) {
            return "model.layers." + layer + ".";
        }
    };
}
