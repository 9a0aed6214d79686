package dev.lancet.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Locations of the embedded models and text, found from any module's working directory. */
public final class Fixtures {

    private Fixtures() {
    }

    public static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("assets/models"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("cannot find the repository's assets/ above " + Path.of("").toAbsolutePath());
        }
        return dir;
    }

    public static Path tinyLlama() {
        return repoRoot().resolve("assets/models/tiny-llama");
    }

    public static Path tinyOpt() {
        return repoRoot().resolve("assets/models/tiny-opt");
    }

    public static Path validText() {
        return repoRoot().resolve("assets/data/brown/brown.valid.txt");
    }

    public static Path calibrationText() {
        return repoRoot().resolve("assets/data/brown/brown.calibration.txt");
    }

    /** The model's reference.json: fp64 figures from the independent PyTorch implementation. */
    public static JsonNode reference(Path modelDir) {
        try {
            return new ObjectMapper().readTree(modelDir.resolve("reference.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
