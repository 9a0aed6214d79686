package dev.lancet.cli;

import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import java.nio.file.Path;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Linear;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Throughput of the transformer on random token batches; the Java side of BENCHMARKS.md. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Throughput of the model and of KFAC folding on random token ids; prints one JSON line per "
                + "mode, like bench/torch_baseline.py.",
                "forward, train (or both): median tokens/s of forward (logits + loss) and of train: forward and "
                + "backward of the summed next-token NLL, with every layer's (a, g) streamed out and the decoder's "
                + "weight gradients; --streams batches side by side, as evaluation and calibration run them.",
                "kfac: GFLOP/s of folding one batch's (a, g) blocks into every layer's KFAC sums (fp32 blocks).",
                "gemm: fp32 GEMM GFLOP/s at 2048^3 (the peak the kfac rate is compared with).",
                "load: peak resident memory (VmHWM) after loading the model, against its fp32 size."})
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

    @Option(names = "--mode", description = "forward, train, both, kfac, gemm or load (default: ${DEFAULT-VALUE}).")
    String mode = "both";

    @Option(names = "--streams", description = "Batches computed side by side, one per thread, for forward and train "
            + "(default: one per core, as evaluation and calibration run).")
    Integer streams;

    @Override
    public Integer call() {
        if (!List.of("forward", "train", "both", "kfac", "gemm", "load").contains(mode)) {
            throw new IllegalArgumentException("--mode must be forward, train, both, kfac, gemm or load");
        }
        int side = streams != null ? streams : Runtime.getRuntime().availableProcessors();
        if (side < 1) {
            throw new IllegalArgumentException("--streams must be at least 1, got " + side);
        }
        if (mode.equals("gemm")) {
            INDArray a = Nd4j.rand(DataType.FLOAT, 2048, 2048);
            INDArray c = Nd4j.create(DataType.FLOAT, 2048, 2048);
            double seconds = time(() -> Blas.gemm(a, false, a, false, c, 1.0, 0.0));
            System.out.println(Json.object("mode", "gemm", "gflops", 2.0 * 2048 * 2048 * 2048 / seconds / 1e9,
                    "seconds_per_iter", seconds));
            return 0;
        }
        try (Checkpoint checkpoint = Checkpoint.open(model)) {
            Transformer transformer = Transformer.load(checkpoint, DataType.FLOAT);
            if (mode.equals("load")) {
                long parameters = transformer.parameters().values().stream().mapToLong(INDArray::length).sum();
                System.out.println(Json.object("mode", "load", "parameters", parameters,
                        "fp32_mib", parameters * 4 / 1048576.0, "peak_rss_mib", peakRssKib() / 1024.0,
                        "model", model.toString()));
                return 0;
            }
            int[] ids = new SplittableRandom(0).ints((long) batch * seqlen, 0, checkpoint.config().vocabSize()).toArray();
            TokenBatch tokens = new TokenBatch(batch, seqlen, ids);
            if (mode.equals("kfac")) {
                benchKfac(transformer, tokens.labelledTokens());
                return 0;
            }
            ExecutorService threads = Executors.newFixedThreadPool(side, work -> new Thread(null, work, "bench", 16L << 20));
            try {
                if (!mode.equals("train")) {
                    report("forward", side, time(sideBySide(threads, side, () -> transformer.loss(tokens))));
                }
                if (!mode.equals("forward")) {
                    report("train", side, time(sideBySide(threads, side, () -> transformer.lossAndBackward(tokens,
                            new Backprop(true, (layer, a, g) -> { }, tokens.labelledRows())))));
                }
            } finally {
                threads.shutdown();
            }
        }
        return 0;
    }

    /** One iteration: {@code n} copies of {@code step} at once on the pool's threads. */
    private static Runnable sideBySide(ExecutorService threads, int n, Runnable step) {
        return () -> {
            List<Future<?>> running = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                running.add(threads.submit(step));
            }
            for (Future<?> f : running) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted", e);
                } catch (ExecutionException e) {
                    throw new IllegalStateException(e.getCause());
                }
            }
        };
    }

    /** Folds random blocks of n rows into every layer's sums; FLOPs counted as SYRK's n·d·(d+1) per factor. */
    private void benchKfac(Transformer transformer, int rows) {
        KfacState state = KfacState.empty(transformer.layout());
        List<INDArray[]> blocks = new ArrayList<>();
        double flops = 0;
        for (Linear l : transformer.linears()) {
            blocks.add(new INDArray[] {Nd4j.rand(DataType.FLOAT, rows, l.inFeatures()),
                    Nd4j.rand(DataType.FLOAT, rows, l.outFeatures())});
            long dimA = state.get(l.name()).dimA();
            long dimG = state.get(l.name()).dimG();
            flops += (double) rows * (dimA * (dimA + 1) + dimG * (dimG + 1));
        }
        List<Linear> linears = transformer.linears();
        double seconds = time(() -> {
            try (MemoryWorkspace ignored = Workspaces.open(Workspaces.BENCH_KFAC)) {
                for (int i = 0; i < linears.size(); i++) {
                    state.get(linears.get(i).name()).add(blocks.get(i)[0], blocks.get(i)[1], Precision.FP32);
                }
            }
        });
        System.out.println(Json.object("mode", "kfac", "gflops", flops / seconds / 1e9, "seconds_per_batch", seconds,
                "rows", rows, "model", model.toString()));
    }

    /** VmHWM of /proc/self/status: the most resident memory this process has had. */
    private static long peakRssKib() {
        try {
            return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("VmHWM:")).mapToLong(l -> Long.parseLong(l.replaceAll("\\D", "")))
                    .findFirst().orElse(-1);
        } catch (java.io.IOException e) {
            return -1;
        }
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

    private void report(String name, int side, double secondsPerIter) {
        System.out.println(Json.object("mode", name, "tokens_per_second", (double) side * batch * seqlen / secondsPerIter,
                "seconds_per_iter", secondsPerIter, "batch", batch, "seqlen", seqlen, "streams", side,
                "blas_threads", Blas.THREADS, "model", model.toString(), "threads",
                Runtime.getRuntime().availableProcessors()));
    }
}
