package dev.lancet.jobs;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.text.CalibrationSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Small prune jobs on tiny-llama for the job tests: 8 calibration windows of 64 unless given, evaluation on 40 windows of 64. */
final class PruneSpecs {

    private static Path evalText;

    private PruneSpecs() {
    }

    /** The first 40 windows of the valid split: every run evaluates the dense and the final model on all of them. */
    static synchronized Path evalText() {
        if (evalText == null) {
            try {
                Path dir = Files.createTempDirectory("lancet-prune-test");
                dir.toFile().deleteOnExit();
                evalText = dir.resolve("eval.txt");
                Files.writeString(evalText, Files.readString(Fixtures.validText()).substring(0, 12_000));
                evalText.toFile().deleteOnExit();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return evalText;
    }

    /** Each shot is measured on the first 16 windows. */
    static PruneJob.Spec spec(PruneMethod method, Structure structure, double target, int shots, Path out,
                              boolean resume, int workers) {
        return spec(PruneSettings.defaults(method, structure), target, shots, out, resume, workers);
    }

    static PruneJob.Spec spec(PruneSettings settings, double target, int shots, Path out, boolean resume, int workers) {
        return spec(settings, target, shots, 8, 64, out, resume, workers, null);
    }

    /** With LoRA steps between shots ({@code lora}; null: none). */
    static PruneJob.Spec spec(PruneMethod method, Structure structure, double target, int shots, Path out,
                              boolean resume, int workers, PruneJob.LoraBetweenShots lora) {
        return spec(PruneSettings.defaults(method, structure), target, shots, 8, 64, out, resume, workers, lora);
    }

    static PruneJob.Spec spec(PruneSettings settings, double target, int shots, int samples, int seqlen, Path out,
                              boolean resume, int workers, PruneJob.LoraBetweenShots lora) {
        return new PruneJob.Spec(Fixtures.tinyLlama(), settings, null, target, shots, Schedule.LINEAR,
                List.of(Fixtures.calibrationText()), samples, seqlen, CalibrationSource.Sampling.RANDOM, 5, evalText(),
                64, 16, 8, out, resume, workers, PruneJob.Export.SHRUNK, null, lora);
    }
}
