package dev.lancet.engine.model.qwen2;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.model.ConfigReader;
import dev.lancet.engine.model.LayoutConfig;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelFamily;
import dev.lancet.engine.model.TensorNames;
import dev.lancet.engine.model.llama.LlamaFamily;
import java.nio.file.Path;

/** Qwen2 and Qwen2.5: the Llama block with biases on q, k and v (always; the config has no key for them). */
public final class Qwen2Family implements ModelFamily {

    @Override
    public String modelType() {
        return "qwen2";
    }

    @Override
    public ModelConfig parseConfig(JsonNode json, Path configFile) {
        ConfigReader c = new ConfigReader(json, configFile);
        if (c.optBoolean("use_sliding_window", false)) {
            throw c.error("use_sliding_window=true is not supported (sliding-window attention is not implemented)");
        }
        return LlamaFamily.parseBlockConfig(c, modelType(), new LlamaFamily.Biases(true, false, false),
                ModelConfig.NO_SLIDING_WINDOW);
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
