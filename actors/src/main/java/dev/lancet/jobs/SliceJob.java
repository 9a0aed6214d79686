package dev.lancet.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.CheckpointWriter;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.slicegpt.SecondMoments;
import dev.lancet.engine.slicegpt.SliceGpt;
import dev.lancet.engine.slicegpt.SliceWidth;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * SliceGPT through {@code lancet prune --method slicegpt}: fuse the norms, rotate every place of the residual
 * stream onto its calibration principal directions and keep the leading k = floor((1 − target)·D) (a multiple of 8).
 * The second moments of the PCA stream through the calibration actors ({@link Calibration#secondMoments}). One
 * shot in {@link PruneJob}'s terms, with its output directory, report, plot and resume: the dense figures and,
 * block by block, the bases so far are recorded ({@link SliceBases}), so a run killed while slicing continues from
 * its last completed block to the same bytes; the sliced model is checkpointed before the final evaluation, so a
 * run killed after slicing resumes from it. Fusion and PCA run in fp64; the saved model has the input's dtypes and
 * its shortcut matrices as tensors of their own.
 */
public final class SliceJob {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String SLICING = "slicing blocks";
    /** In {@code progress.json} while slicing: the blocks whose bases {@link SliceBases#FILE} holds. */
    private static final String BLOCKS_DONE = "slicegpt_blocks_done";

    /**
     * @param target    fraction of the hidden width sliced (before rounding k down to a multiple of 8)
     * @param sliceHead whether the head's input is sliced too (the reference's default: no)
     */
    public record Spec(Path model, double target, boolean sliceHead, List<Path> calibration, int samples, int seqlen,
                       CalibrationSource.Sampling sampling, long seed, Path eval, int evalSeqlen, int batch, Path out,
                       boolean resume) implements JobSpec {
        public Spec {
            calibration = List.copyOf(calibration);
            PruneJob.requireShared(target, samples, seqlen, evalSeqlen, batch);
        }

        /** Slicing is one shot. */
        @Override
        public int shots() {
            return 1;
        }

        @Override
        public Spec withOut(Path out, boolean resume) {
            return new Spec(model, target, sliceHead, calibration, samples, seqlen, sampling, seed, eval, evalSeqlen,
                    batch, out, resume);
        }

        JsonNode fingerprint() {
            ObjectNode job = JSON.createObjectNode();
            job.put("model", model.toAbsolutePath().normalize().toString());
            job.put("method", "SLICEGPT").put("structure", "RESIDUAL").put("slice_head", sliceHead);
            job.put("target", target).put("shots", 1);
            // the sliced model is measured once, on every window
            PruneJob.putData(job, calibration, samples, seqlen, sampling, seed, eval, evalSeqlen, 0, batch);
            return job;
        }
    }

    private SliceJob() {
    }

    public static PruneJob.Result run(Spec spec, JobProgress progress) throws IOException {
        long start = System.nanoTime();
        try (Checkpoint input = Checkpoint.open(spec.model());
             Tokenizer tokenizer = Tokenizer.load(input.tokenizerFile())) {
            int width = width(input, spec);
            CalibrationSource source = CalibrationSource.of(tokenizer, spec.calibration(), spec.samples(),
                    spec.seqlen(), spec.sampling(), spec.seed());
            Windows windows = Windows.read(tokenizer, spec.eval(), spec.evalSeqlen(), 0);
            RunDirectory run = RunDirectory.open(spec.out(), spec.fingerprint(), spec.resume());
            if (run.finished()) {
                return PruneJob.result(spec.out(), run.recorded("report"), start);
            }
            Files.createDirectories(spec.out());
            ObjectNode report = run.shotsDone() == 1 ? (ObjectNode) run.recorded("report").deepCopy()
                    : slice(spec, input, source, windows, width, run, progress);
            return finish(spec, input, windows, report, run, progress, start);
        }
    }

    /**
     * The residual width {@code spec} slices {@code input} to, after checking that its windows fit the model's
     * positions and that the model can be sliced to it.
     *
     * @throws IllegalArgumentException otherwise
     */
    public static int width(Checkpoint input, Spec spec) {
        input.requirePositions(spec.seqlen());
        input.requirePositions(spec.evalSeqlen());
        int width = SliceWidth.of(spec.target(), input.config().hiddenSize());
        SliceWidth.check(input.config(), input.layout(), width);
        return width;
    }

    /**
     * Measures the dense model, slices it, and checkpoints the sliced model as shot 1. The dense figures and, after
     * each block, the bases so far are recorded, so a killed run resumes from its last completed block.
     */
    private static ObjectNode slice(Spec spec, Checkpoint input, CalibrationSource source, Windows windows, int width,
                                    RunDirectory run, JobProgress progress) throws IOException {
        long linearsBefore = linearParameters(input.layout());
        ObjectNode report = run.recorded("report") != null ? (ObjectNode) run.recorded("report").deepCopy()
                : measureDense(spec, input, windows, linearsBefore, run, progress);
        long sliceStart = System.nanoTime();
        int blocks = input.layout().numBlocks();
        int savedBlocks = run.recorded(BLOCKS_DONE) == null ? 0 : run.recorded(BLOCKS_DONE).asInt();
        Path basesFile = spec.out().resolve(SliceBases.FILE);
        List<INDArray> saved = savedBlocks == 0 ? List.of() : SliceBases.read(basesFile, 1 + 2 * savedBlocks);
        progress.report(SLICING, savedBlocks, blocks);
        SecondMoments moments = Calibration.secondMoments(source, Calibration.settings(spec.batch(), Precision.FP64));
        SliceGpt.BlockDone blockDone = (done, bases) -> {
            if (done > savedBlocks) { // the saved blocks are replayed from their bases, not measured again
                SliceBases.write(basesFile, bases);
                recordPartial(run, report, done);
                progress.report(SLICING, done, blocks);
            }
        };
        try (Transformer sliced = SliceGpt.slice(Transformer.load(input, DataType.DOUBLE),
                new SliceGpt.Settings(width, spec.sliceHead()), moments, saved, blockDone)) {
            double seconds = (System.nanoTime() - sliceStart) / 1e9;
            ModelLayout layout = sliced.layout();
            long linearsAfter = linearParameters(layout);
            report.put("width", width).put("sliced_fraction", SliceWidth.fraction(width, input.config().hiddenSize()));
            ObjectNode shot = report.putArray("shots").addObject();
            // shortcuts count as weights the slicing added to the decoder
            shot.put("shot", 1).put("target", spec.target())
                    .put("achieved", 1 - (double) linearsAfter / linearsBefore);
            shot.putObject("seconds").put("calibration", 0.0).put("solve", seconds).put("evaluation", 0.0);
            ArrayNode widths = shot.putArray("blocks");
            for (int i = 0; i < layout.numBlocks(); i++) {
                BlockLayout b = layout.block(i);
                widths.addObject().put("block", i).put("residual_in", b.residualIn())
                        .put("residual_mid", b.residualMid()).put("residual_out", b.residualOut())
                        .put("shortcut_params", b.shortcutParameters());
            }
            ObjectNode state = JSON.createObjectNode();
            state.set("report", report);
            run.completeShot(1, sliced, input, state);
        }
        return report;
    }

    private static ObjectNode measureDense(Spec spec, Checkpoint input, Windows windows, long linearsBefore,
                                           RunDirectory run, JobProgress progress) {
        ObjectNode report = JSON.createObjectNode();
        report.set("job", spec.fingerprint());
        report.put("prunable_params", linearsBefore);
        try (Transformer dense = Transformer.load(input, DataType.FLOAT)) {
            report.put("params_before", dense.parameterCount());
            double densePerplexity = evaluate(dense, windows, spec.batch(), "dense", progress);
            report.put("dense_perplexity", densePerplexity).put("dense_shot_perplexity", densePerplexity);
        }
        recordPartial(run, report, 0);
        return report;
    }

    /** The dense figures and the blocks sliced so far (their bases being in {@link SliceBases#FILE}). */
    private static void recordPartial(RunDirectory run, ObjectNode report, int blocksDone) {
        ObjectNode state = JSON.createObjectNode();
        state.set("report", report.deepCopy());
        state.put(BLOCKS_DONE, blocksDone);
        try {
            run.recordPartial(state);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Saves the sliced model in the input's dtypes and measures the saved file. */
    private static PruneJob.Result finish(Spec spec, Checkpoint input, Windows windows, ObjectNode report,
                                          RunDirectory run, JobProgress progress, long start) throws IOException {
        try (Checkpoint last = Checkpoint.open(run.lastCheckpoint());
             Transformer sliced = Transformer.load(last, DataType.FLOAT)) {
            CheckpointWriter.save(sliced, input, spec.out());
        }
        try (Checkpoint saved = Checkpoint.open(spec.out());
             Transformer model = Transformer.load(saved, DataType.FLOAT)) {
            long evalStart = System.nanoTime();
            double perplexity = evaluate(model, windows, spec.batch(), "sliced", progress);
            ObjectNode shot = (ObjectNode) report.get("shots").get(0);
            shot.put("perplexity", perplexity);
            ((ObjectNode) shot.get("seconds")).put("evaluation", (System.nanoTime() - evalStart) / 1e9);
            report.put("params_after", model.parameterCount()).put("perplexity", perplexity);
        }
        report.put("seconds", (System.nanoTime() - start) / 1e9);
        AtomicFiles.write(spec.out().resolve(PruneJob.REPORT), JSON.writeValueAsBytes(report));
        PrunePlot.write(report, spec.out().resolve(PruneJob.PLOT));
        ObjectNode state = JSON.createObjectNode();
        state.set("report", report);
        Files.deleteIfExists(spec.out().resolve(SliceBases.FILE));
        run.finish(state);
        return PruneJob.result(spec.out(), report, start);
    }

    /** Weights and biases of the decoder's linears plus its shortcut matrices. */
    private static long linearParameters(ModelLayout layout) {
        return layout.linears().stream().mapToLong(l -> (long) l.out() * l.inputsWithBias()).sum()
                + layout.blocks().stream().mapToLong(BlockLayout::shortcutParameters).sum();
    }

    private static double evaluate(Transformer model, Windows windows, int batch, String what, JobProgress progress) {
        String phase = what + " evaluation " + PruneJob.WINDOWS;
        progress.report(phase, 0, windows.count());
        return Perplexity.evaluate(model, windows, batch, done -> progress.report(phase, done, windows.count()))
                .perplexity();
    }
}
