package dev.lancet.engine.io;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared tiny checkpoints: -Dlancet.shared=DIR, else ../../shared from the module directory. */
final class SharedModels {
    private SharedModels() {
    }

    /** The model's safetensors file; skips the calling test when the shared models are not present. */
    static Path safetensors(String model) {
        Path file = Path.of(System.getProperty("lancet.shared", "../../shared"), "models", model, "model.safetensors");
        assumeTrue(Files.isRegularFile(file), "shared model not found: " + file.toAbsolutePath());
        return file;
    }
}
