package dev.lancet.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.lora.LoraSettings;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.CheckpointWriter;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Recovery fine-tuning: it lowers held-out perplexity, keeps pruned zeros, and resumes to the same bytes. */
class RecoverJobTest {

    @TempDir
    Path tmp;

    private static Path evalText;
    private static Path pruned;

    /**
     * A short validation text, and tiny-llama with half of every MLP's channels zeroed (up/gate rows and down
     * columns) and a third of every attention output's columns: a damaged model to recover.
     */
    @BeforeAll
    static void prunedModel(@TempDir Path dir) throws IOException {
        evalText = dir.resolve("eval.txt");
        Files.writeString(evalText, Files.readString(Fixtures.validText()).substring(0, 12_000));
        pruned = dir.resolve("pruned");
        try (Checkpoint input = Checkpoint.open(Fixtures.tinyLlama())) {
            Transformer model = Transformer.load(input, DataType.FLOAT);
            for (var block : model.blocks()) {
                List<Linear> mlp = block.feedForward().linears();
                for (int c = 0; c < mlp.get(0).outFeatures(); c += 2) {
                    mlp.get(0).weight().getRow(c).assign(0);
                    mlp.get(1).weight().getRow(c).assign(0);
                    mlp.get(2).weight().getColumn(c).assign(0);
                }
                INDArray o = block.attention().o().weight();
                for (int c = 0; c < o.columns(); c += 3) {
                    o.getColumn(c).assign(0);
                }
            }
            CheckpointWriter.save(model, input, pruned);
            model.close();
        }
    }

    private static RecoverJob.Spec spec(Path model, int steps, Path out, boolean resume) {
        return new RecoverJob.Spec(model, Fixtures.calibrationText(), steps, LoraSettings.defaults(3), 2e-3, 2, 2, 2,
                64, evalText, 64, 12, 4, out, resume);
    }

    private static long zeros(Path model) {
        try (Checkpoint c = Checkpoint.open(model)) {
            Transformer t = Transformer.load(c, DataType.FLOAT);
            long zeros = 0;
            for (Linear l : t.linears()) {
                zeros += l.weight().eq(0).castTo(DataType.INT64).sumNumber().longValue();
            }
            t.close();
            return zeros;
        }
    }

    @Test
    void recoveryLowersHeldOutPerplexityAndKeepsPrunedZeros() throws Exception {
        Path out = tmp.resolve("recovered");
        RecoverJob.Result result = RecoverJob.run(spec(pruned, 24, out, false), JobProgress.NONE);
        assertTrue(result.perplexity() < 0.95 * result.perplexityBefore(),
                "perplexity " + result.perplexityBefore() + " → " + result.perplexity());
        assertTrue(result.bestStep() > 0);
        // the report's figure is the saved model's, measured again from disk (other batches: other rounding)
        double measured = EvalJob.run(new EvalJob.Spec(out, evalText, 64, 0, 8, false), JobProgress.NONE).perplexity();
        assertEquals(result.perplexity(), measured, 1e-6 * measured);
        assertEquals(zeros(pruned), zeros(out), "pruned zeros stay zero, and only they are zero");
        assertTrue(result.report().get("trainable_params").asLong() > 0);
    }

    @Test
    void aKilledRunResumesToTheSameBytesAsAnUninterruptedOne() throws Exception {
        Path whole = tmp.resolve("whole");
        RecoverJob.run(spec(pruned, 8, whole, false), JobProgress.NONE);
        Path killed = tmp.resolve("killed");
        JobProgress killAtSecondEvaluation = (phase, done, total) -> {
            if (phase.startsWith("step 8 evaluation")) {
                throw new IllegalStateException("killed");
            }
        };
        assertThrows(IllegalStateException.class, () -> RecoverJob.run(spec(pruned, 8, killed, false),
                killAtSecondEvaluation));
        assertTrue(Files.isDirectory(killed.resolve("shot-4")), "the step-4 checkpoint is kept");
        assertFalse(Files.exists(killed.resolve("model.safetensors")));
        RecoverJob.run(spec(pruned, 8, killed, true), JobProgress.NONE);
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(killed.resolve("model.safetensors")));
        try (Stream<Path> left = Files.list(killed)) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith("shot-")
                    || p.getFileName().toString().contains(".tmp")), "checkpoints and temporaries cleaned up");
        }
    }
}
