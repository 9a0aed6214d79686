package dev.lancet.engine.model.mistral;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.model.ConfigReader;
import dev.lancet.engine.model.LayoutConfig;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelFamily;
import dev.lancet.engine.model.TensorNames;
import dev.lancet.engine.model.llama.LlamaFamily;
import java.nio.file.Path;

/**
 * Mistral: the Llama block without biases, whose attention may be limited to a sliding window of
 * {@code sliding_window} positions. Only windows that fit in it are evaluated (checked where --seqlen is),
 * so plain causal attention is exact.
 */
public final class MistralFamily implements ModelFamily {

    /** What Hugging Face's MistralConfig assumes when config.json has no sliding_window key (null: none). */
    private static final int DEFAULT_SLIDING_WINDOW = 4096;

    @Override
    public String modelType() {
        return "mistral";
    }

    @Override
    public ModelConfig parseConfig(JsonNode json, Path configFile) {
        ConfigReader c = new ConfigReader(json, configFile);
        int slidingWindow = json.has("sliding_window") ? c.optInt("sliding_window", ModelConfig.NO_SLIDING_WINDOW)
                : DEFAULT_SLIDING_WINDOW;
        return LlamaFamily.parseBlockConfig(c, modelType(), new LlamaFamily.Biases(false, false, false), slidingWindow);
    }

    @Override
    public LayoutConfig.ShapeKeys shapeKeys() {
        return LlamaFamily.KEYS;
    }

    @Override
    public TensorNames names() {
        return LlamaFamily.NAMES;
    }
}
