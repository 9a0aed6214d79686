package dev.lancet.engine.model.opt;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.model.ConfigReader;
import dev.lancet.engine.model.LayoutConfig;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelFamily;
import dev.lancet.engine.model.TensorNames;
import dev.lancet.engine.nn.RopeScaling;
import java.nio.file.Path;

/**
 * Meta's OPT: learned positions offset by 2, pre-LayerNorm blocks (post-LayerNorm without a final norm when
 * do_layer_norm_before is false, as opt-350m), ReLU MLP, biases, tied head, project_in/out when
 * word_embed_proj_dim differs from hidden_size.
 */
public final class OptFamily implements ModelFamily {

    @Override
    public String modelType() {
        return "opt";
    }

    @Override
    public ModelConfig parseConfig(JsonNode json, Path configFile) {
        ConfigReader c = new ConfigReader(json, configFile);
        int hidden = c.requireInt("hidden_size");
        String activation = c.optString("activation_function", "relu");
        if (!activation.equals("relu")) {
            throw c.error("activation_function '" + activation + "' is not supported (OPT uses relu)");
        }
        if (!c.optBoolean("layer_norm_elementwise_affine", true)) {
            throw c.error("layer_norm_elementwise_affine=false is not supported");
        }
        boolean bias = c.optBoolean("enable_bias", true);
        return new ModelConfig("opt", c.requireInt("vocab_size"), hidden,
                c.optInt("word_embed_proj_dim", hidden), c.requireInt("max_position_embeddings"),
                ModelConfig.NormKind.LAYER_NORM, 1e-5, ModelConfig.Positions.LEARNED_OFFSET_2, 0,
                ModelConfig.FeedForwardKind.RELU, bias, bias, bias, true,
                c.optBoolean("tie_word_embeddings", true),
                c.optBoolean("do_layer_norm_before", true) ? ModelConfig.NormPlacement.PRE_NORM
                        : ModelConfig.NormPlacement.POST_NORM,
                RopeScaling.UNSCALED, ModelConfig.NO_SLIDING_WINDOW);
    }

    /** OPT has no key/value head count: its attention is always multi-head. */
    @Override
    public LayoutConfig.ShapeKeys shapeKeys() {
        return KEYS;
    }

    private static final LayoutConfig.ShapeKeys KEYS = new LayoutConfig.ShapeKeys("num_attention_heads", null, "ffn_dim");

    @Override
    public TensorNames names() {
        return NAMES;
    }

    private static final TensorNames NAMES = new TensorNames() {
        private static final String DECODER = "model.decoder.";

        @Override
        public String embedTokens() {
            return DECODER + "embed_tokens";
        }

        @Override
        public String embedPositions() {
            return DECODER + "embed_positions";
        }

        @Override
        public String projectIn() {
            return DECODER + "project_in";
        }

        @Override
        public String projectOut() {
            return DECODER + "project_out";
        }

        @Override
        public String finalNorm() {
            return DECODER + "final_layer_norm";
        }

        @Override
        public String head() {
            return "lm_head";
        }

        @Override
        public String attentionNorm(int layer) {
            return layer(layer) + "self_attn_layer_norm";
        }

        @Override
        public String feedForwardNorm(int layer) {
            return layer(layer) + "final_layer_norm";
        }

        @Override
        public String linear(int layer, LinearRole role) {
            return layer(layer) + switch (role) {
                case Q -> "self_attn.q_proj";
                case K -> "self_attn.k_proj";
                case V -> "self_attn.v_proj";
                case O -> "self_attn.out_proj";
                case UP -> "fc1";
                case DOWN -> "fc2";
                case GATE -> throw new IllegalArgumentException("OPT has no gate projection");
            };
        }

        private String layer(int layer) {
            return DECODER + "layers." + layer + ".";
        }
    };
}
