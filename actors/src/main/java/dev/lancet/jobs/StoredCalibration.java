package dev.lancet.jobs;

import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.List;

/**
 * Calibration data accepted batch by batch for a model (the daemon's {@code add-data}), as a re-prune starts from it:
 * the factor file of the dense model's curvature over every batch, which its first shot uses instead of calibrating,
 * and the batches themselves, whose windows every later shot calibrates on.
 */
public record StoredCalibration(Path factors, List<Batch> batches) {

    /** One accepted batch: its files and how its windows were drawn from them. */
    public record Batch(List<Path> files, int samples, int seqlen, CalibrationSource.Sampling sampling, long seed) {
        public Batch {
            files = List.copyOf(files);
        }
    }

    public StoredCalibration {
        batches = List.copyOf(batches);
        if (batches.isEmpty()) {
            throw new IllegalArgumentException("stored calibration without any batch");
        }
    }

    /** The windows of every batch, in the order they were accepted. */
    CalibrationSource source(Tokenizer tokenizer) {
        return CalibrationSource.concat(batches.stream().map(b -> CalibrationSource.of(tokenizer, b.files(),
                b.samples(), b.seqlen(), b.sampling(), b.seed())).toList());
    }
}
