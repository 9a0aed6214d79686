package dev.lancet.cli;

import java.nio.file.Path;

/**
 * The embedded default model and texts, under the installation directory the launcher passes as
 * {@code -Dlancet.home} (the working directory otherwise).
 */
final class Defaults {

    private Defaults() {
    }

    static Path home() {
        return Path.of(System.getProperty("lancet.home", "."));
    }

    static Path model() {
        return home().resolve("assets/models/tiny-llama");
    }

    static Path calibrationText() {
        return home().resolve("assets/data/brown/brown.calibration.txt");
    }

    static Path evalText() {
        return home().resolve("assets/data/brown/brown.valid.txt");
    }
}
