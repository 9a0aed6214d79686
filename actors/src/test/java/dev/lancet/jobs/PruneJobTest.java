package dev.lancet.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.text.CalibrationSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The multi-shot job: killed and resumed runs, worker counts, and what it writes. */
class PruneJobTest {

    @TempDir
    Path tmp;

    private static Path evalText;

    /** The first 40 windows of the valid split: every run evaluates the dense and the final model on all of them. */
    @BeforeAll
    static void shortEvalText(@TempDir Path dir) throws IOException {
        evalText = dir.resolve("eval.txt");
        Files.writeString(evalText, Files.readString(Fixtures.validText()).substring(0, 12_000));
    }

    static PruneJob.Spec spec(PruneMethod method, Structure structure, double target, int shots, Path out, boolean resume,
                              int workers) {
        return spec(method, structure, target, shots, out, resume, workers, null);
    }

    static PruneJob.Spec spec(PruneMethod method, Structure structure, double target, int shots, Path out, boolean resume,
                              int workers, PruneJob.LoraBetweenShots lora) {
        return new PruneJob.Spec(Fixtures.tinyLlama(), PruneSettings.defaults(method, structure), target, shots,
                Schedule.LINEAR, List.of(Fixtures.calibrationText()), 8, 64, CalibrationSource.Sampling.RANDOM, 5,
                evalText, 64, 16, 8, out, resume, workers, PruneJob.Export.SHRUNK, lora);
    }

    /** Dies at the start of a phase, as a kill would, leaving whatever the run had written. */
    private static JobProgress killedAt(String phase) {
        return (p, done, total) -> {
            if (p.startsWith(phase)) {
                throw new IllegalStateException("killed");
            }
        };
    }

    @Test
    void aKilledRunResumesToTheSameBytesAsAnUninterruptedOne() throws Exception {
        Path whole = tmp.resolve("whole");
        PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.5, 3, whole, false, 2), JobProgress.NONE);

        Path killed = tmp.resolve("killed");
        assertThrows(IllegalStateException.class, () -> PruneJob.run(
                spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.5, 3, killed, false, 2), killedAt("shot 3/3 solve")));
        assertTrue(Files.isDirectory(killed.resolve("shot-2")), "the last completed shot's checkpoint is kept");
        assertFalse(Files.exists(killed.resolve("model.safetensors")));
        // a second kill while resuming, before anything new is done, changes nothing
        assertThrows(IllegalStateException.class, () -> PruneJob.run(
                spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.5, 3, killed, true, 1), killedAt("shot 3/3 solve")));
        PruneJob.Result resumed = PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.5, 3, killed, true, 1),
                JobProgress.NONE);

        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(killed.resolve("model.safetensors")));
        assertEquals(3, resumed.report().get("shots").size());
        try (Stream<Path> left = Files.list(killed)) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith("shot-")
                    || p.getFileName().toString().contains(".tmp")), "checkpoints and temporaries cleaned up");
        }
        // resuming a finished run does nothing and answers with its result
        assertEquals(resumed.perplexity(), PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.5, 3, killed,
                true, 2), JobProgress.NONE).perplexity());
    }

    /**
     * LLM Surgeon with coupled groups: heads and channels leave the model; exported dense instead, the same model at
     * the input's stock shapes, with zeros where they were, measures the same.
     */
    @Test
    void surgeonGroupsShrinkTheModelAndExportDenseMeasuresTheSame() throws Exception {
        Path shrunk = tmp.resolve("shrunk");
        Path dense = tmp.resolve("dense");
        PruneJob.Result small = PruneJob.run(spec(PruneMethod.SURGEON, Structure.GROUPS, 0.2, 2, shrunk, false, 2),
                JobProgress.NONE);
        PruneJob.Spec denseSpec = spec(PruneMethod.SURGEON, Structure.GROUPS, 0.2, 2, dense, false, 2);
        PruneJob.Result stock = PruneJob.run(new PruneJob.Spec(denseSpec.model(), denseSpec.settings(), 0.2, 2,
                denseSpec.schedule(), denseSpec.calibration(), denseSpec.samples(), denseSpec.seqlen(),
                denseSpec.sampling(), denseSpec.seed(), denseSpec.eval(), denseSpec.evalSeqlen(), denseSpec.evalWindows(),
                denseSpec.batch(), dense, false, 2, PruneJob.Export.DENSE, null), JobProgress.NONE);
        // 20% of the decoder linear weights (1,769,472 in tiny-llama), to within one MLP channel per block
        assertEquals(0.2 * 1_769_472, small.paramsBefore() - small.paramsAfter(), 4 * 3 * 192);
        assertEquals(small.paramsAfter(), stock.paramsAfter());
        try (Checkpoint s = Checkpoint.open(shrunk); Checkpoint d = Checkpoint.open(dense)) {
            assertTrue(ShotUnits.prunable(s.layout()) < ShotUnits.prunable(d.layout()));
            assertEquals(Checkpoint.open(Fixtures.tinyLlama()).layout(), d.layout());
        }
        // the reported perplexity is the saved file's, measured again from disk
        double measured = EvalJob.run(new EvalJob.Spec(shrunk, evalText, 64, 0, 8, false), JobProgress.NONE).perplexity();
        assertEquals(small.perplexity(), measured, 1e-12 * measured);
        assertEquals(measured, EvalJob.run(new EvalJob.Spec(dense, evalText, 64, 0, 8, false), JobProgress.NONE)
                .perplexity(), 1e-5 * measured);
        assertEquals(measured, stock.perplexity(), 1e-5 * measured);
    }

    @Test
    void theOutputDoesNotDependOnTheNumberOfWorkers() throws Exception {
        Path one = tmp.resolve("one");
        Path three = tmp.resolve("three");
        PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.3, 2, one, false, 1), JobProgress.NONE);
        PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.3, 2, three, false, 3), JobProgress.NONE);
        assertArrayEquals(Files.readAllBytes(one.resolve("model.safetensors")),
                Files.readAllBytes(three.resolve("model.safetensors")));
    }

    @Test
    void aRunDirectoryIsNeverOverwrittenOrResumedByAnotherJob() throws Exception {
        Path out = tmp.resolve("out");
        PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.2, 1, out, false, 1), JobProgress.NONE);
        byte[] weights = Files.readAllBytes(out.resolve("model.safetensors"));
        var again = assertThrows(RuntimeException.class, () -> PruneJob.run(
                spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.2, 1, out, false, 1), JobProgress.NONE));
        assertTrue(again.getMessage().contains("already holds a run"), again.getMessage());
        var other = assertThrows(RuntimeException.class, () -> PruneJob.run(
                spec(PruneMethod.MAGNITUDE, Structure.UNSTRUCTURED, 0.4, 1, out, true, 1), JobProgress.NONE));
        assertTrue(other.getMessage().contains("belongs to another job"), other.getMessage());
        assertArrayEquals(weights, Files.readAllBytes(out.resolve("model.safetensors")));
    }

    /**
     * LoRA between shots: the merged adapters keep every pruned row and column at zero (each shot still removes its
     * target), they lower the perplexity against the same run without them, and a killed run resumes to the same bytes.
     */
    @Test
    void loraBetweenShotsKeepsThePrunedZerosHelpsAndResumes() throws Exception {
        PruneJob.LoraBetweenShots lora = new PruneJob.LoraBetweenShots(4, 1e-3);
        Path plain = tmp.resolve("plain");
        PruneJob.Result without = PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.ROWS_COLS, 0.4, 2, plain, false, 2),
                JobProgress.NONE);
        Path whole = tmp.resolve("lora-whole");
        PruneJob.Result with = PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.ROWS_COLS, 0.4, 2, whole, false, 2,
                lora), JobProgress.NONE);
        for (var shot : with.report().get("shots")) {
            assertTrue(shot.get("achieved").asDouble() >= 0.999 * shot.get("target").asDouble(), shot.toString());
            assertTrue(shot.get("seconds").has("lora"));
        }
        assertEquals(without.paramsAfter(), with.paramsAfter(), 0.002 * without.paramsAfter());
        assertTrue(with.perplexity() < without.perplexity(), with.perplexity() + " vs " + without.perplexity());

        Path killed = tmp.resolve("lora-killed");
        assertThrows(IllegalStateException.class, () -> PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.ROWS_COLS,
                0.4, 2, killed, false, 2, lora), killedAt("shot 2/2 LoRA")));
        PruneJob.run(spec(PruneMethod.MAGNITUDE, Structure.ROWS_COLS, 0.4, 2, killed, true, 1, lora), JobProgress.NONE);
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(killed.resolve("model.safetensors")));
    }
}
