package dev.lancet.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.calibration.CalibrationPipeline;
import dev.lancet.actors.calibration.SnapshotStore;
import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** KFAC factors of every decoder linear layer from calibration text, streamed through the actor pipeline. */
@Command(name = "curvature", mixinStandardHelpOptions = true,
        description = {"Accumulate KFAC curvature: A = (1/n) sum [a;1][a;1]^T over each decoder linear layer's inputs",
                "(the 1 only with a bias) and G = (1/n) sum g g^T over gradients of the summed next-token NLL",
                "w.r.t. its outputs, n = labelled positions. Writes safetensors <layer>.A / <layer>.G with",
                "the token count in __metadata__[\"tokens\"]."})
final class CurvatureCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Model directory (default: embedded tiny-llama).")
    Path model = Defaults.model();

    @Option(names = "--calibration", paramLabel = "FILE", arity = "1..*",
            description = "Calibration text files, tokenized and concatenated (default: embedded Brown train slice).")
    List<Path> calibration = List.of(Defaults.calibrationText());

    @Option(names = "--samples", paramLabel = "N", description = "Calibration windows (default: ${DEFAULT-VALUE}).")
    int samples = 128;

    @Option(names = "--seqlen", paramLabel = "T", description = "Tokens per window (default: ${DEFAULT-VALUE}).")
    int seqlen = 128;

    @Option(names = "--sampling", description = "sequential or random (default: ${DEFAULT-VALUE}).")
    String sampling = "random";

    @Option(names = "--seed", description = "Seed of random sampling (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--add-to", paramLabel = "OLD", description = "Fold the new data into this factor file's state.")
    Path addTo;

    @Option(names = "--out", paramLabel = "FACTORS", required = true,
            description = "Output factor file (may be the --add-to file; replaced atomically).")
    Path out;

    @Option(names = "--precision", description = "fp64 or fp32: per-batch block arithmetic and file dtype; sums are fp64 (default: ${DEFAULT-VALUE}).")
    String precision = "fp32";

    @Option(names = "--batch", description = "Windows per batch (default: lancet.calibration.batch-size).")
    Integer batch;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @Option(names = "--direct", description = "Skip the actors: one plain loop (the baseline of BENCHMARKS.md).")
    boolean direct;

    @Override
    public Integer call() throws Exception {
        Precision prec = switch (precision) {
            case "fp64" -> Precision.FP64;
            case "fp32" -> Precision.FP32;
            default -> throw new IllegalArgumentException("--precision must be fp64 or fp32, got '" + precision + "'");
        };
        CalibrationSource.Sampling mode = switch (sampling) {
            case "sequential" -> CalibrationSource.Sampling.SEQUENTIAL;
            case "random" -> CalibrationSource.Sampling.RANDOM;
            default -> throw new IllegalArgumentException("--sampling must be sequential or random, got '" + sampling + "'");
        };
        if (out.getParent() != null && !Files.isDirectory(out.toAbsolutePath().getParent())) {
            throw new CheckpointException(out, "output directory does not exist");
        }
        Config config = ConfigFactory.load();
        CalibrationCoordinator.Settings settings = new CalibrationCoordinator.Settings(
                batch != null ? batch : config.getInt("lancet.calibration.batch-size"),
                config.getInt("lancet.calibration.max-in-flight"),
                config.getInt("lancet.calibration.snapshot-every"), prec);
        if (settings.batchSize() < 1) {
            throw new IllegalArgumentException("--batch must be >= 1");
        }
        long start = System.nanoTime();
        try (Checkpoint checkpoint = Checkpoint.open(model);
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            checkpoint.requirePositions(seqlen, "--seqlen");
            KfacState base = addTo == null ? null : FactorFile.read(addTo);
            Transformer transformer = Transformer.load(checkpoint, prec == Precision.FP64 ? DataType.DOUBLE : DataType.FLOAT);
            if (base != null) {
                checkCompatible(base, transformer.layout().linears(), addTo);
            }
            CalibrationSource source = CalibrationSource.of(tokenizer, calibration, samples, seqlen, mode, seed);
            long calibrationStart = System.nanoTime();
            KfacState state = direct ? runDirect(transformer, source, settings, base) : run(transformer, source, settings, base);
            double calibrationSeconds = (System.nanoTime() - calibrationStart) / 1e9;
            FactorFile.write(out, state, prec);
            double seconds = (System.nanoTime() - start) / 1e9;
            long newTokens = (long) samples * (seqlen - 1);
            System.out.printf(Locale.ROOT, "wrote %s: %d layers, %d tokens (%d new) in %.1f s%n", out,
                    state.factors().size(), state.tokens(), newTokens, seconds);
            if (json) {
                System.out.println(Json.object("tokens", state.tokens(), "new_tokens", newTokens,
                        "layers", state.factors().size(), "seconds", seconds,
                        "tokens_per_second", newTokens / calibrationSeconds, "calibration_seconds", calibrationSeconds,
                        "pipeline", direct ? "direct" : "actors", "out", out.toString()));
            }
            return 0;
        }
    }

    private static KfacState run(Transformer model, CalibrationSource source, CalibrationCoordinator.Settings settings,
                                 KfacState base) throws InterruptedException {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "lancet");
        try {
            Progress bar = new Progress("batches", source.batches(settings.batchSize()));
            var progress = system.systemActorOf(Behaviors.<CalibrationCoordinator.Progress>receiveMessage(p -> {
                bar.accept(p.progress().getBatchesDone());
                return Behaviors.same();
            }), "progress", org.apache.pekko.actor.typed.Props.empty());
            var run = CalibrationPipeline.spawn(system, "calibration", model, source, settings,
                    SnapshotStore.inMemory(), base, progress);
            return CalibrationPipeline.start(system, run).toCompletableFuture().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("calibration failed: " + e.getCause(), e.getCause());
        } finally {
            system.terminate();
        }
    }

    private static KfacState runDirect(Transformer model, CalibrationSource source,
                                       CalibrationCoordinator.Settings settings, KfacState base) {
        KfacState state = KfacState.empty(model.layout());
        Progress bar = new Progress("windows", source.windows());
        DirectCalibration.accumulate(model, source, settings.batchSize(), settings.precision(), state,
                done -> bar.accept(Math.min(done, source.windows())));
        if (base != null) {
            state.merge(base);
        }
        return state;
    }

    /** Shapes only: an empty state of a 125M model would be 1.2 GB of zeros. */
    private static void checkCompatible(KfacState base, List<LinearLayout> layers, Path file) {
        for (LinearLayout layer : layers) {
            KfacFactor old;
            try {
                old = base.get(layer.name());
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(file, "has no factors for layer '" + layer.name() + "' of this model");
            }
            if (!old.fits(layer)) {
                throw new CheckpointException(file, "factors of '" + layer.name() + "' have another shape than this model's layer");
            }
        }
        if (base.factors().size() != layers.size()) {
            throw new CheckpointException(file, "holds " + base.factors().size() + " layers, the model has " + layers.size());
        }
    }
}
