package dev.lancet.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.io.CheckpointException;
import java.nio.file.Path;

/** Typed, checked access to config.json fields, so every family reports bad configs the same way. */
public final class ConfigReader {

    private final JsonNode json;
    private final Path file;
    /** Where this object sits in config.json ("" or e.g. "rope_scaling."), so messages name nested keys in full. */
    private final String path;

    public ConfigReader(JsonNode json, Path file) {
        this(json, file, "");
    }

    private ConfigReader(JsonNode json, Path file, String path) {
        this.json = json;
        this.file = file;
        this.path = path;
    }

    /** A reader of the nested object under {@code key}. */
    public ConfigReader object(String key) {
        JsonNode node = require(key);
        if (!node.isObject()) {
            throw error(quoted(key) + " must be an object, got " + node);
        }
        return new ConfigReader(node, file, path + key + ".");
    }

    public int requireInt(String key) {
        JsonNode node = require(key);
        if (!node.canConvertToInt() || node.asInt() <= 0) {
            throw error(quoted(key) + " must be a positive integer, got " + node);
        }
        return node.asInt();
    }

    /** A positive number. */
    public double requireDouble(String key) {
        JsonNode node = require(key);
        if (!node.isNumber() || node.asDouble() <= 0) {
            throw error(quoted(key) + " must be a positive number, got " + node);
        }
        return node.asDouble();
    }

    public String requireString(String key) {
        JsonNode node = require(key);
        if (!node.isTextual()) {
            throw error(quoted(key) + " must be a string, got " + node);
        }
        return node.asText();
    }

    private JsonNode require(String key) {
        JsonNode node = json.get(key);
        if (node == null || node.isNull()) {
            throw error("missing " + quoted(key));
        }
        return node;
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
            throw error(quoted(key) + " must be a number, got " + node);
        }
        return node.asDouble();
    }

    public boolean optBoolean(String key, boolean fallback) {
        JsonNode node = json.get(key);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isBoolean()) {
            throw error(quoted(key) + " must be true or false, got " + node);
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

    /** The key as messages name it: quoted, with the path of the object it is in. */
    private String quoted(String key) {
        return "'" + path + key + "'";
    }

    public CheckpointException error(String problem) {
        return new CheckpointException(file, problem);
    }
}
