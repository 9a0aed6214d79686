package dev.lancet.engine.model;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.model.llama.LlamaFamily;
import dev.lancet.engine.model.mistral.MistralFamily;
import dev.lancet.engine.model.opt.OptFamily;
import dev.lancet.engine.model.qwen2.Qwen2Family;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The registry from config.json's {@code model_type} to the family that reads it. */
public final class ModelFamilies {

    private static final Map<String, ModelFamily> BY_TYPE = new TreeMap<>();

    static {
        for (ModelFamily family : List.of(new OptFamily(), new LlamaFamily(), new Qwen2Family(),
                new MistralFamily())) {
            BY_TYPE.put(family.modelType(), family);
        }
    }

    private ModelFamilies() {
    }

    public static ModelFamily forType(String modelType, Path configFile) {
        ModelFamily family = BY_TYPE.get(modelType);
        if (family == null) {
            throw new CheckpointException(configFile, "unsupported model_type '" + modelType
                    + "' (supported: " + String.join(", ", BY_TYPE.keySet()) + ")");
        }
        return family;
    }
}
