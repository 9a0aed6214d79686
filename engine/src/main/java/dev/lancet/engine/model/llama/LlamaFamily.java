package dev.lancet.engine.model.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.model.ConfigReader;
import dev.lancet.engine.model.LayoutConfig;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelFamily;
import dev.lancet.engine.model.TensorNames;
import java.nio.file.Path;

/** Llama and its GQA descendants: RMSNorm, RoPE, SiLU-gated MLP, optional biases, tied or untied head. */
public final class LlamaFamily implements ModelFamily {

    @Override
    public String modelType() {
        return "llama";
    }

    @Override
    public ModelConfig parseConfig(JsonNode json, Path configFile) {
        ConfigReader c = new ConfigReader(json, configFile);
        int hidden = c.requireInt("hidden_size");
        String activation = c.optString("hidden_act", "silu");
        if (!activation.equals("silu")) {
            throw c.error("hidden_act '" + activation + "' is not supported (Llama uses silu)");
        }
        if (c.has("rope_scaling")) {
            throw c.error("rope_scaling is not supported");
        }
        boolean attentionBias = c.optBoolean("attention_bias", false);
        return new ModelConfig("llama", c.requireInt("vocab_size"), hidden, hidden,
                c.requireInt("max_position_embeddings"), ModelConfig.NormKind.RMS_NORM, c.optDouble("rms_norm_eps", 1e-6),
                ModelConfig.Positions.ROTARY, c.optDouble("rope_theta", 10000.0), ModelConfig.FeedForwardKind.SILU_GATED,
                attentionBias, attentionBias, c.optBoolean("mlp_bias", false), false,
                c.optBoolean("tie_word_embeddings", false));
    }

    @Override
    public LayoutConfig.ShapeKeys shapeKeys() {
        return KEYS;
    }

    private static final LayoutConfig.ShapeKeys KEYS =
            new LayoutConfig.ShapeKeys("num_attention_heads", "num_key_value_heads", "intermediate_size");

    @Override
    public TensorNames names() {
        return NAMES;
    }

    private static final TensorNames NAMES = new TensorNames() {
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
