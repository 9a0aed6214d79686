package dev.lancet.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/** One causal-LM family (OPT, Llama, ...): how its config.json reads and how its tensors are named. */
public interface ModelFamily {

    /** The {@code model_type} of config.json this family handles. */
    String modelType();

    /**
     * Parses the architecture from config.json; problems are reported as
     * {@link dev.lancet.engine.io.CheckpointException}. The block sizes are read by {@link LayoutConfig}.
     */
    ModelConfig parseConfig(JsonNode json, Path configFile);

    /** The config.json keys of this family's block sizes. */
    LayoutConfig.ShapeKeys shapeKeys();

    TensorNames names();
}
