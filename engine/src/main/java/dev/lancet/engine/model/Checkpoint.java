package dev.lancet.engine.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A Hugging Face model directory: config.json, one {@code model.safetensors} or shards listed in
 * {@code model.safetensors.index.json}, and tokenizer files. Tensors are looked up by their CausalLM
 * names; files saved from the bare model (without the {@code model.} prefix) resolve too.
 */
public final class Checkpoint implements AutoCloseable {

    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String WEIGHTS_INDEX = "model.safetensors.index.json";
    public static final String TOKENIZER = "tokenizer.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final JsonNode configJson;
    private final ModelFamily family;
    private final ModelConfig config;
    private final ModelLayout layout;
    private final List<SafetensorsFile> shards;
    /** Tensor name as stored → its shard, in storage order. */
    private final Map<String, SafetensorsFile> shardOf = new LinkedHashMap<>();

    private Checkpoint(Path dir, JsonNode configJson, ModelFamily family, ModelConfig config, ModelLayout layout,
                       List<SafetensorsFile> shards) {
        this.dir = dir;
        this.configJson = configJson;
        this.family = family;
        this.config = config;
        this.layout = layout;
        this.shards = shards;
        for (SafetensorsFile shard : shards) {
            for (TensorInfo t : shard.tensors()) {
                shardOf.put(t.name(), shard);
            }
        }
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir, Files.exists(dir) ? "not a directory" : "model directory not found");
        }
        Path configFile = dir.resolve(CONFIG);
        JsonNode json = readJson(configFile);
        JsonNode type = json.get("model_type");
        if (type == null || !type.isTextual()) {
            throw new CheckpointException(configFile, "missing 'model_type'");
        }
        ModelFamily family = ModelFamilies.forType(type.asText(), configFile);
        ModelConfig config = family.parseConfig(json, configFile);
        ModelLayout layout = LayoutConfig.read(new ConfigReader(json, configFile), config, family.shapeKeys(),
                family.names());
        List<SafetensorsFile> shards = openShards(dir);
        return new Checkpoint(dir, json, family, config, layout, shards);
    }

    private static List<SafetensorsFile> openShards(Path dir) {
        Path single = dir.resolve(WEIGHTS);
        Path index = dir.resolve(WEIGHTS_INDEX);
        if (Files.exists(single)) {
            return List.of(SafetensorsFile.open(single));
        }
        if (!Files.exists(index)) {
            throw new CheckpointException(dir, "no " + WEIGHTS + " or " + WEIGHTS_INDEX + " found");
        }
        JsonNode weightMap = readJson(index).get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new CheckpointException(index, "missing 'weight_map'");
        }
        List<String> files = new ArrayList<>();
        for (Iterator<JsonNode> it = weightMap.elements(); it.hasNext(); ) {
            String file = it.next().asText();
            if (!files.contains(file)) {
                files.add(file);
            }
        }
        List<SafetensorsFile> shards = new ArrayList<>();
        try {
            for (String file : files) {
                shards.add(SafetensorsFile.open(dir.resolve(file)));
            }
        } catch (RuntimeException e) {
            shards.forEach(SafetensorsFile::close);
            throw e;
        }
        return shards;
    }

    static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file, "file not found");
        }
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new CheckpointException(file, "not a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new CheckpointException(file, "invalid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + e.getMessage());
        }
    }

    public Path dir() {
        return dir;
    }

    public ModelConfig config() {
        return config;
    }

    /** Block sizes as config.json states them; loading checks every tensor against them. */
    public ModelLayout layout() {
        return layout;
    }

    public ModelFamily family() {
        return family;
    }

    public TensorNames names() {
        return family.names();
    }

    public JsonNode configJson() {
        return configJson;
    }

    /** Every stored tensor, in storage order (shard by shard). */
    public List<TensorInfo> tensors() {
        List<TensorInfo> all = new ArrayList<>();
        shards.forEach(s -> all.addAll(s.tensors()));
        return all;
    }

    public SafetensorsFile shardOf(String storedName) {
        return shardOf.get(storedName);
    }

    /** The stored name of a CausalLM tensor name, or null when the checkpoint lacks it. */
    public String storedName(String name) {
        if (shardOf.containsKey(name)) {
            return name;
        }
        String bare = name.startsWith("model.") ? name.substring("model.".length()) : name;
        return shardOf.containsKey(bare) ? bare : null;
    }

    public boolean has(String name) {
        return storedName(name) != null;
    }

    /** Reads a tensor into a new array of {@code dtype}, checking its shape against the config. */
    public INDArray load(String name, DataType dtype, long... expectedShape) {
        String stored = storedName(name);
        if (stored == null) {
            throw new CheckpointException(shards.get(0).path(), "missing tensor '" + name + "'");
        }
        SafetensorsFile shard = shardOf.get(stored);
        TensorInfo info = shard.find(stored).orElseThrow();
        if (!Arrays.equals(info.shape(), expectedShape)) {
            throw new CheckpointException(shard.path(), "tensor '" + stored + "' has shape "
                    + Arrays.toString(info.shape()) + " but the config implies " + Arrays.toString(expectedShape));
        }
        // decoded straight into native memory: no heap copy, so loading peaks near the fp32 model size
        INDArray array = Nd4j.createUninitialized(dtype, expectedShape, 'c');
        switch (dtype) {
            case FLOAT -> shard.readInto(stored, array.data().asNioFloat());
            case DOUBLE -> shard.readInto(stored, array.data().asNioDouble());
            default -> throw new IllegalArgumentException("compute dtype must be FLOAT or DOUBLE, not " + dtype);
        }
        return array;
    }

    /** A problem with this checkpoint's config.json. */
    public CheckpointException configError(String problem) {
        return new CheckpointException(dir.resolve(CONFIG), problem);
    }

    /**
     * Rejects windows longer than the model's positions, or than its sliding window (attention within one is not
     * implemented, and a window that fits in it needs none), blaming config.json.
     */
    public void requirePositions(int seq) {
        if (seq > config.maxPositions()) {
            throw new CheckpointException(dir.resolve(CONFIG), "windows of " + seq
                    + " tokens exceed max_position_embeddings " + config.maxPositions());
        }
        if (seq > config.slidingWindow()) {
            throw new CheckpointException(dir.resolve(CONFIG), "windows of " + seq + " tokens exceed sliding_window "
                    + config.slidingWindow() + " (sliding-window attention is not implemented; use windows of "
                    + config.slidingWindow() + " tokens or less)");
        }
    }

    public Path tokenizerFile() {
        return dir.resolve(TOKENIZER);
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }
}
