package dev.lancet.jobs;

import static dev.lancet.engine.curvature.KfacAssertions.assertSameFactors;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link CurvatureJob} without the CLI: both pipelines give the same factors, and report their progress. */
class CurvatureJobTest {

    private static final int SAMPLES = 6;
    private static final int SEQ = 24;

    @TempDir
    Path tmp;

    private static CurvatureJob.Spec spec(Path addTo, Path out, CurvatureJob.Pipeline pipeline) {
        return new CurvatureJob.Spec(Fixtures.tinyOpt(), List.of(Fixtures.calibrationText()), SAMPLES, SEQ,
                Sampling.RANDOM, 3, addTo, out, Precision.FP64, 2, pipeline);
    }

    /** The progress reports of one run, checked to stay in {@code phase}. */
    private record Reports(String phase, List<long[]> seen) implements JobProgress {
        Reports(String phase) {
            this(phase, new ArrayList<>());
        }

        @Override
        public void report(String phase, long done, long total) {
            assertEquals(this.phase, phase);
            seen.add(new long[] {done, total});
        }

        long[] last() {
            return seen.get(seen.size() - 1);
        }
    }

    @Test
    void actorsAndDirectLoopWriteTheSameFactorsAndAddingCountsOnlyTheNewData() throws Exception {
        Path actors = tmp.resolve("actors.safetensors");
        Path direct = tmp.resolve("direct.safetensors");
        Reports batches = new Reports(CurvatureJob.BATCHES);
        Reports windows = new Reports(CurvatureJob.WINDOWS);
        CurvatureJob.Result viaActors = CurvatureJob.run(spec(null, actors, CurvatureJob.Pipeline.ACTORS), batches);
        CurvatureJob.Result viaLoop = CurvatureJob.run(spec(null, direct, CurvatureJob.Pipeline.DIRECT), windows);

        long tokens = SAMPLES * (SEQ - 1L);
        for (CurvatureJob.Result result : List.of(viaActors, viaLoop)) {
            assertEquals(tokens, result.tokens());
            assertEquals(tokens, result.newTokens());
            assertEquals(24, result.layers(), "4 blocks of q, k, v, out, fc1, fc2");
        }
        assertEquals(CurvatureJob.Pipeline.ACTORS, viaActors.pipeline());
        assertArrayEquals(new long[] {0, 3}, batches.seen().get(0));
        assertArrayEquals(new long[] {3, 3}, batches.last());
        assertArrayEquals(new long[] {0, SAMPLES}, windows.seen().get(0));
        assertArrayEquals(new long[] {SAMPLES, SAMPLES}, windows.last());
        try (KfacState a = FactorFile.read(actors); KfacState b = FactorFile.read(direct)) {
            assertSameFactors(b, a);
        }

        CurvatureJob.Result added = CurvatureJob.run(spec(direct, direct, CurvatureJob.Pipeline.ACTORS), JobProgress.NONE);
        assertEquals(2 * tokens, added.tokens());
        assertEquals(tokens, added.newTokens());
    }
}
