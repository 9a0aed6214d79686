package dev.lancet.cli;

import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.jobs.CurvatureJob;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code lancet curvature}: the flags of a {@link CurvatureJob} and its result, as text or JSON. */
@Command(name = "curvature", mixinStandardHelpOptions = true,
        description = "Accumulate KFAC curvature: A = (1/n) sum [a;1][a;1]^T over each decoder linear layer's inputs "
                + "(the 1 only with a bias) and G = (1/n) sum g g^T over gradients of the summed next-token NLL "
                + "with respect to its outputs, n = labelled positions. Writes safetensors <layer>.A and <layer>.G "
                + "with the token count in __metadata__[\"tokens\"].")
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

    @Option(names = "--batch", description = "Windows per batch (lancet.calibration.batch-size by default).")
    Integer batch;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @Option(names = "--direct", description = "Skip the actors: one plain loop (the baseline of BENCHMARKS.md).")
    boolean direct;

    @Override
    public Integer call() throws InterruptedException {
        Precision prec = switch (precision) {
            case "fp64" -> Precision.FP64;
            case "fp32" -> Precision.FP32;
            default -> throw new IllegalArgumentException("--precision must be fp64 or fp32, got '" + precision + "'");
        };
        Sampling mode = switch (sampling) {
            case "sequential" -> Sampling.SEQUENTIAL;
            case "random" -> Sampling.RANDOM;
            default -> throw new IllegalArgumentException("--sampling must be sequential or random, got '" + sampling + "'");
        };
        CurvatureJob.Result result = CurvatureJob.run(new CurvatureJob.Spec(model, calibration, samples, seqlen, mode,
                seed, addTo, out, prec, batch, direct ? CurvatureJob.Pipeline.DIRECT : CurvatureJob.Pipeline.ACTORS),
                new Progress());
        System.out.printf(Locale.ROOT, "wrote %s: %d layers, %d tokens (%d new) in %.1f s%n", result.out(),
                result.layers(), result.tokens(), result.newTokens(), result.seconds());
        if (json) {
            System.out.println(Json.object("tokens", result.tokens(), "new_tokens", result.newTokens(),
                    "layers", result.layers(), "seconds", result.seconds(), "tokens_per_second", result.tokensPerSecond(),
                    "calibration_seconds", result.calibrationSeconds(),
                    "pipeline", result.pipeline().name().toLowerCase(Locale.ROOT), "out", result.out().toString()));
        }
        return 0;
    }
}
