package dev.lancet.jobs;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Structure;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The orderings the papers report, on tiny-llama with a small calibration set (BENCHMARKS.md has the full-size runs):
 * curvature with correlated corrections beats its diagonal, which beats magnitude; and the full KFAC curvature does
 * no worse than SparseGPT's input-only one.
 */
class PruneQualityTest {

    @TempDir
    Path tmp;

    private double perplexity(PruneSettings settings, double target, int shots) throws Exception {
        Path out = tmp.resolve(settings.method() + "-" + settings.structure() + "-" + target);
        return PruneJob.run(PruneSpecs.spec(settings, target, shots, out, false, 2), JobProgress.NONE).perplexity();
    }

    private static PruneSettings settings(PruneMethod method, Structure structure) {
        PruneSettings defaults = PruneSettings.defaults(method, structure);
        return new PruneSettings(method, structure, defaults.damping(), 256);
    }

    @Test
    void structuredSurgeonBeatsKfacDiagonalWhichBeatsMagnitude() throws Exception {
        double surgeon = perplexity(PruneSettings.defaults(PruneMethod.SURGEON, Structure.ROWS_COLS), 0.25, 2);
        double kObd = perplexity(PruneSettings.defaults(PruneMethod.K_OBD, Structure.ROWS_COLS), 0.25, 2);
        double magnitude = perplexity(PruneSettings.defaults(PruneMethod.MAGNITUDE, Structure.ROWS_COLS), 0.25, 2);
        assertTrue(surgeon < kObd && kObd < magnitude,
                "surgeon " + surgeon + " < k-obd " + kObd + " < magnitude " + magnitude);
    }

    /**
     * One shot each, correlating at most 256 weights per chunk (the default 2000 makes the solve cubically slower;
     * BENCHMARKS.md compares the two at the default).
     */
    @Test
    void surgeonDoesNoWorseThanSparseGptUnstructuredAndTwoFour() throws Exception {
        for (Structure structure : new Structure[] {Structure.UNSTRUCTURED, Structure.SEMI_2_4}) {
            double surgeon = perplexity(settings(PruneMethod.SURGEON, structure), 0.5, 1);
            double sparseGpt = perplexity(settings(PruneMethod.SPARSEGPT, structure), 0.5, 1);
            assertTrue(surgeon <= sparseGpt, structure + ": surgeon " + surgeon + " <= sparsegpt " + sparseGpt);
        }
    }
}
