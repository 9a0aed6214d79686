package dev.lancet.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.io.CheckpointException;
import java.nio.file.Path;

/** Typed, checked access to config.json fields, so every family reports bad configs the same way. */
public final class ConfigReader {

    private final JsonNode json;
    private final Path file;

    public ConfigReader(JsonNode json, Path file) {
        this.json = json;
        this.file = file;
    }

    public int requireInt(String key) {
        JsonNode node = json.get(key);
        if (node == null || node.isNull()) {
            throw new CheckpointException(file, "missing '" + key + "'");
        }
        if (!node.canConvertToInt() || node.asInt() <= 0) {
            throw new CheckpointException(file, "'" + key + "' must be a positive integer, got " + node);
        }
        return node.asInt();
    }

    public int optInt(String key, int fallback) {
        return has(key) ? requireInt(key) : fallback;
    }

    public double optDouble(String key, double fallback) {
        JsonNode node = json.get(key);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isNumber()) {
            throw new CheckpointException(file, "'" + key + "' must be a number, got " + node);
        }
        return node.asDouble();
    }

    public boolean optBoolean(String key, boolean fallback) {
        JsonNode node = json.get(key);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isBoolean()) {
            throw new CheckpointException(file, "'" + key + "' must be true or false, got " + node);
        }
        return node.asBoolean();
    }

    public String optString(String key, String fallback) {
        JsonNode node = json.get(key);
        return node == null || node.isNull() ? fallback : node.asText();
    }

    public boolean has(String key) {
        JsonNode node = json.get(key);
        return node != null && !node.isNull();
    }

    /** The whole config.json. */
    public JsonNode json() {
        return json;
    }

    public CheckpointException error(String problem) {
        return new CheckpointException(file, problem);
    }
}
