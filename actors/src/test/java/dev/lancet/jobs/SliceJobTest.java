package dev.lancet.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.text.CalibrationSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SliceGPT's job killed while slicing: a resumed run continues from its last completed block to the same bytes. */
class SliceJobTest {

    private static final String SLICING = "slicing blocks";

    @TempDir
    Path tmp;

    private static SliceJob.Spec spec(Path out, boolean resume) {
        return new SliceJob.Spec(Fixtures.tinyLlama(), 0.25, false, List.of(Fixtures.calibrationText()), 8, 64,
                CalibrationSource.Sampling.RANDOM, 5, PruneSpecs.evalText(), 64, 4, out, resume);
    }

    @Test
    void aRunKilledWhileSlicingContinuesFromItsLastBlockToTheSameBytes() throws Exception {
        Path whole = tmp.resolve("whole");
        SliceJob.run(spec(whole, false), JobProgress.NONE);

        Path killed = tmp.resolve("killed");
        // dies as block 2 of 4 is reported done, as a kill would, leaving whatever the run had written
        assertThrows(IllegalStateException.class, () -> SliceJob.run(spec(killed, false), (phase, done, total) -> {
            if (phase.equals(SLICING) && done == 2) {
                throw new IllegalStateException("killed");
            }
        }));
        assertTrue(Files.exists(killed.resolve(SliceBases.FILE)), "the bases of the completed blocks are kept");
        assertFalse(Files.exists(killed.resolve("model.safetensors")));

        List<Long> sliced = new ArrayList<>();
        List<String> phases = new ArrayList<>();
        PruneJob.Result resumed = SliceJob.run(spec(killed, true), (phase, done, total) -> {
            phases.add(phase);
            if (phase.equals(SLICING)) {
                sliced.add(done);
            }
        });
        assertEquals(List.of(2L, 3L, 4L), sliced, "slicing continues after block 2");
        assertTrue(phases.stream().noneMatch(p -> p.startsWith("dense")), "the dense figures are not measured again");
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(killed.resolve("model.safetensors")));
        assertFalse(Files.exists(killed.resolve(SliceBases.FILE)), "the bases are dropped once the run is finished");
        assertEquals(SliceJob.run(spec(whole, true), JobProgress.NONE).perplexity(), resumed.perplexity());
    }
}
