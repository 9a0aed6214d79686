package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.nn.RopeScaling;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** How config.json keys of each family read, with Hugging Face's defaults where a key is absent. */
class FamilyConfigTest {

    private static final Path FILE = Path.of("config.json");

    private static ModelConfig parse(String modelType, String extra) {
        try {
            ObjectNode json = (ObjectNode) new ObjectMapper().readTree("{\"model_type\": \"" + modelType + "\", "
                    + "\"vocab_size\": 10, \"hidden_size\": 8, \"num_attention_heads\": 2, \"num_hidden_layers\": 1, "
                    + "\"intermediate_size\": 16, \"ffn_dim\": 16, \"max_position_embeddings\": 32" + extra + "}");
            return ModelFamilies.forType(modelType, FILE).parseConfig(json, FILE);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void qwen2HasQkvBiasesOnly() {
        ModelConfig config = parse("qwen2", ", \"use_sliding_window\": false, \"sliding_window\": 4096");
        assertTrue(config.attentionBias());
        assertFalse(config.outputBias());
        assertFalse(config.mlpBias());
        assertEquals(ModelConfig.NO_SLIDING_WINDOW, config.slidingWindow());
    }

    @Test
    void mistralSlidingWindowDefaultsLikeHuggingFace() {
        assertEquals(4096, parse("mistral", "").slidingWindow());
        assertEquals(ModelConfig.NO_SLIDING_WINDOW, parse("mistral", ", \"sliding_window\": null").slidingWindow());
        assertEquals(100, parse("mistral", ", \"sliding_window\": 100").slidingWindow());
        assertFalse(parse("mistral", ", \"attention_bias\": true").attentionBias());
    }

    @Test
    void ropeScalingTypes() {
        assertEquals(RopeScaling.UNSCALED, parse("llama", "").ropeScaling());
        assertEquals(RopeScaling.UNSCALED, parse("llama", ", \"rope_scaling\": null").ropeScaling());
        assertEquals(RopeScaling.UNSCALED, parse("llama", ", \"rope_scaling\": {\"rope_type\": \"default\"}").ropeScaling());
        assertEquals(new RopeScaling.Linear(2.0),
                parse("qwen2", ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}").ropeScaling());
        assertEquals(new RopeScaling.Llama3(8, 1, 4, 8192), parse("llama", ", \"rope_scaling\": {\"rope_type\": "
                + "\"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                + "\"original_max_position_embeddings\": 8192}").ropeScaling());
    }

    @Test
    void unsupportedOrIncompleteRopeScalingIsRefused() {
        for (String type : new String[] {"dynamic", "yarn", "longrope"}) {
            assertEquals("rope_scaling type '" + type + "' is not supported (supported: default, linear, llama3)",
                    refusal("mistral", ", \"rope_scaling\": {\"rope_type\": \"" + type + "\", \"factor\": 2.0}"));
        }
        assertEquals("missing 'rope_scaling.rope_type'", refusal("llama", ", \"rope_scaling\": {\"factor\": 2.0}"));
        assertEquals("missing 'rope_scaling.factor'", refusal("llama", ", \"rope_scaling\": {\"type\": \"linear\"}"));
        assertEquals("rope_scaling high_freq_factor 1.0 must exceed low_freq_factor 4.0", refusal("llama",
                ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0, "
                        + "\"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192}"));
    }

    /** The problem a refused config is reported with (the message without the file). */
    private static String refusal(String modelType, String extra) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> parse(modelType, extra));
        return e.getMessage().substring(e.getMessage().indexOf(": ") + 2);
    }

    @Test
    void optNormPlacement() {
        ModelConfig pre = parse("opt", "");
        ModelConfig post = parse("opt", ", \"do_layer_norm_before\": false");
        assertEquals(ModelConfig.NormPlacement.PRE_NORM, pre.normPlacement());
        assertTrue(pre.hasFinalNorm());
        assertEquals(ModelConfig.NormPlacement.POST_NORM, post.normPlacement());
        assertFalse(post.hasFinalNorm());
    }
}
