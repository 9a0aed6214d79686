package dev.lancet.jobs;

import static dev.lancet.jobs.PruneSpecs.spec;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.llmpruner.Aggregation;
import dev.lancet.engine.llmpruner.Importance;
import dev.lancet.engine.llmpruner.Strategy;
import dev.lancet.engine.llmpruner.TaylorSettings;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.text.CalibrationSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The multi-shot job: killed and resumed runs, worker counts, and what it writes. */
class PruneJobTest {

    @TempDir
    Path tmp;

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

    /** LLM-Pruner's one shot, killed as the saved model is measured, resumes to the same bytes. */
    @Test
    void aKilledLlmPrunerRunResumesToTheSameBytes() throws Exception {
        Path whole = tmp.resolve("whole");
        PruneJob.Result done = PruneJob.run(llmPruner(whole, false), JobProgress.NONE);
        Path killed = tmp.resolve("killed");
        assertThrows(IllegalStateException.class, () -> PruneJob.run(llmPruner(killed, false),
                killedAt("final evaluation")));
        PruneJob.run(llmPruner(killed, true), JobProgress.NONE);
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(killed.resolve("model.safetensors")));
        // 10% of all 3,344,064 parameters, to within half a channel (576 parameters) per block
        assertEquals(334_406, done.paramsBefore() - done.paramsAfter(), 2 * 576);
    }

    private static PruneJob.Spec llmPruner(Path out, boolean resume) {
        return new PruneJob.Spec(Fixtures.tinyLlama(), null,
                new TaylorSettings(Strategy.BLOCKS, Importance.ELEMENT1, Aggregation.SUM, null, 0), 0.1, 1,
                Schedule.LINEAR,
                List.of(Fixtures.calibrationText()), 10, 64, CalibrationSource.Sampling.RANDOM, 5, PruneSpecs.evalText(),
                64, 16, 8, out, resume, 1, PruneJob.Export.SHRUNK, null, null);
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
        PruneJob.Result stock = PruneJob.run(new PruneJob.Spec(denseSpec.model(), denseSpec.settings(), null, 0.2, 2,
                denseSpec.schedule(), denseSpec.calibration(), denseSpec.samples(), denseSpec.seqlen(),
                denseSpec.sampling(), denseSpec.seed(), denseSpec.eval(), denseSpec.evalSeqlen(), denseSpec.evalWindows(),
                denseSpec.batch(), dense, false, 2, PruneJob.Export.DENSE, null, null), JobProgress.NONE);
        // 20% of the decoder linear weights (1,769,472 in tiny-llama), to within one MLP channel per block
        assertEquals(0.2 * 1_769_472, small.paramsBefore() - small.paramsAfter(), 4 * 3 * 192);
        assertEquals(small.paramsAfter(), stock.paramsAfter());
        try (Checkpoint s = Checkpoint.open(shrunk); Checkpoint d = Checkpoint.open(dense)) {
            assertTrue(ShotUnits.prunable(s.layout()) < ShotUnits.prunable(d.layout()));
            assertEquals(Checkpoint.open(Fixtures.tinyLlama()).layout(), d.layout());
        }
        // the reported perplexity is the saved file's, measured again from disk
        double measured = EvalJob.run(new EvalJob.Spec(shrunk, PruneSpecs.evalText(), 64, 0, 8, false), JobProgress.NONE).perplexity();
        assertEquals(small.perplexity(), measured, 1e-12 * measured);
        assertEquals(measured, EvalJob.run(new EvalJob.Spec(dense, PruneSpecs.evalText(), 64, 0, 8, false), JobProgress.NONE)
                .perplexity(), 1e-5 * measured);
        assertEquals(measured, stock.perplexity(), 1e-5 * measured);
    }

    /**
     * LLM Surgeon groups on a GQA Llama (6 query heads in 2 key/value groups): query heads leave every group alike;
     * the saved model measures the reported perplexity, and exported dense (zeros where the heads were, in each
     * group's own place) measures the same at the input's shapes.
     */
    @Test
    void surgeonGroupsTakeQueryHeadsOfGqaBlocksAndTheSavedModelsMeasureWhatIsReported() throws Exception {
        Path model = tmp.resolve("gqa");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 4096, 48, 48, 2, 6, 2, 64, 128, false, false,
                false, DType.F32, 0.2, 5), model);
        Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        PruneJob.Result shrunk = PruneJob.run(gqaSpec(model, tmp.resolve("shrunk"), PruneJob.Export.SHRUNK),
                JobProgress.NONE);
        PruneJob.Result dense = PruneJob.run(gqaSpec(model, tmp.resolve("dense"), PruneJob.Export.DENSE),
                JobProgress.NONE);
        int queryHeads = 0;
        for (JsonNode shot : shrunk.report().get("shots")) {
            for (JsonNode block : shot.get("blocks")) {
                queryHeads += block.get("heads").size();
            }
        }
        assertTrue(queryHeads > 0, "no query head was removed: " + shrunk.report().get("shots"));
        try (Checkpoint s = Checkpoint.open(tmp.resolve("shrunk")); Checkpoint d = Checkpoint.open(tmp.resolve("dense"));
             Checkpoint input = Checkpoint.open(model)) {
            assertTrue(s.layout().blocks().stream().anyMatch(b -> b.group() < input.layout().block(0).group()),
                    "some block has fewer query heads per group");
            assertEquals(input.layout(), d.layout());
        }
        assertEquals(shrunk.paramsAfter(), dense.paramsAfter());
        double measured = EvalJob.run(new EvalJob.Spec(tmp.resolve("shrunk"), PruneSpecs.evalText(), 64, 0, 8, false),
                JobProgress.NONE).perplexity();
        assertEquals(shrunk.perplexity(), measured, 1e-12 * measured);
        assertEquals(measured, EvalJob.run(new EvalJob.Spec(tmp.resolve("dense"), PruneSpecs.evalText(), 64, 0, 8,
                false), JobProgress.NONE).perplexity(), 1e-5 * measured);
        assertEquals(measured, dense.perplexity(), 1e-5 * measured);
    }

    private static PruneJob.Spec gqaSpec(Path model, Path out, PruneJob.Export export) {
        return new PruneJob.Spec(model, PruneSettings.defaults(PruneMethod.SURGEON, Structure.GROUPS), null, 0.3, 2,
                Schedule.LINEAR, List.of(Fixtures.calibrationText()), 8, 64, CalibrationSource.Sampling.RANDOM, 5,
                PruneSpecs.evalText(), 64, 16, 8, out, false, 2, export, null, null);
    }

    /**
     * Opens the real units, but in the given shot the last unit's apply fails, after every other unit has removed and
     * corrected its weights: a half-applied shot. {@code failures} bounds how many attempts fail this way.
     */
    private static final class FailingApply implements LocalSolver.UnitOpener {
        private final int shot;
        private final AtomicInteger failures;
        private final AtomicInteger attempts = new AtomicInteger();

        FailingApply(int shot, int failures) {
            this.shot = shot;
            this.failures = new AtomicInteger(failures);
        }

        @Override
        public PruneUnit open(int unit, Transformer model, KfacState curvature, PruneSettings settings) {
            PruneUnit real = ShotUnits.open(unit, model, curvature, settings);
            // every attempt of every shot opens unit 0 once, first: attempts before this shot's are one per shot
            int attempt = unit == 0 ? attempts.incrementAndGet() : attempts.get();
            boolean last = unit == ShotUnits.count(model.layout(), settings.structure()) - 1;
            if (!last || attempt < shot || failures.get() == 0) {
                return real;
            }
            return new PruneUnit() {
                @Override
                public long count(double tau) {
                    return real.count(tau);
                }

                @Override
                public UnitReport apply(double tau) {
                    failures.decrementAndGet();
                    throw new IllegalStateException("worker lost mid-shot");
                }

                @Override
                public void close() {
                    real.close();
                }
            };
        }
    }

    /** One worker applies the units in order, so the failing last unit leaves every other one already corrected. */
    @Test
    void aShotWhoseWorkerFailsHalfWayIsRetriedFromTheShotsStart() throws Exception {
        Path whole = tmp.resolve("whole");
        PruneJob.run(spec(PruneMethod.SURGEON, Structure.ROWS_COLS, 0.3, 2, whole, false, 1), JobProgress.NONE);

        Path retried = tmp.resolve("retried");
        FailingApply once = new FailingApply(2, 1);
        try (LocalSolver solver = new LocalSolver(1, once)) {
            PruneJob.run(spec(PruneMethod.SURGEON, Structure.ROWS_COLS, 0.3, 2, retried, false, 1), JobProgress.NONE,
                    solver);
        }
        assertEquals(0, once.failures.get(), "the failure happened");
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(retried.resolve("model.safetensors")));

        // a shot that keeps failing fails the job, keeping the last completed shot to resume from
        Path failed = tmp.resolve("failed");
        IllegalStateException e;
        try (LocalSolver solver = new LocalSolver(1, new FailingApply(2, Integer.MAX_VALUE))) {
            e = assertThrows(IllegalStateException.class, () -> PruneJob.run(
                    spec(PruneMethod.SURGEON, Structure.ROWS_COLS, 0.3, 2, failed, false, 1), JobProgress.NONE, solver));
        }
        assertTrue(e.getMessage().contains("shot 2 failed 3 times"), e.getMessage());
        assertTrue(Files.isDirectory(failed.resolve("shot-1")));
        PruneJob.run(spec(PruneMethod.SURGEON, Structure.ROWS_COLS, 0.3, 2, failed, true, 1), JobProgress.NONE);
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(failed.resolve("model.safetensors")));
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
