package dev.lancet.cli;

import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Throughput of the transformer on random token batches; the Java side of BENCHMARKS.md. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Median tokens/s of forward (logits + loss) and train (forward + backward of the summed",
                "next-token NLL with the per-layer (a, g) stream and decoder weight gradients) on random ids.",
                "Prints one JSON line per mode, like bench/torch_baseline.py."})
final class BenchCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Model directory (default: embedded tiny-llama).")
    Path model = Defaults.model();

    @Option(names = "--batch", description = "Windows per batch (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--seqlen", description = "Tokens per window (default: ${DEFAULT-VALUE}).")
    int seqlen = 128;

    @Option(names = "--iters", description = "Timed iterations (default: ${DEFAULT-VALUE}).")
    int iters = 10;

    @Option(names = "--warmup", description = "Untimed iterations first (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Option(names = "--mode", description = "forward, train or both (default: ${DEFAULT-VALUE}).")
    String mode = "both";

    @Override
    public Integer call() {
        if (!mode.equals("forward") && !mode.equals("train") && !mode.equals("both")) {
            throw new IllegalArgumentException("--mode must be forward, train or both");
        }
        try (Checkpoint checkpoint = Checkpoint.open(model)) {
            Transformer transformer = Transformer.load(checkpoint, DataType.FLOAT);
            int[] ids = new SplittableRandom(0).ints((long) batch * seqlen, 0, checkpoint.config().vocabSize()).toArray();
            TokenBatch tokens = new TokenBatch(batch, seqlen, ids);
            if (!mode.equals("train")) {
                report("forward", time(() -> transformer.loss(tokens)));
            }
            if (!mode.equals("forward")) {
                report("train", time(() -> transformer.lossAndBackward(tokens,
                        new Backprop(true, (layer, a, g) -> { }, tokens.labelledRows()))));
            }
        }
        return 0;
    }

    private double time(Runnable step) {
        for (int i = 0; i < warmup; i++) {
            step.run();
        }
        double[] seconds = new double[iters];
        for (int i = 0; i < iters; i++) {
            long start = System.nanoTime();
            step.run();
            seconds[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(seconds);
        return seconds[iters / 2];
    }

    private void report(String name, double secondsPerIter) {
        System.out.println(Json.object("mode", name, "tokens_per_second", batch * seqlen / secondsPerIter,
                "seconds_per_iter", secondsPerIter, "batch", batch, "seqlen", seqlen, "model", model.toString(),
                "threads", Runtime.getRuntime().availableProcessors()));
    }
}
