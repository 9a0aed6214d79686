package dev.lancet.daemon;

import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.jobs.CurvatureJob;
import dev.lancet.jobs.JobProgress;
import dev.lancet.jobs.StoredCalibration;
import dev.lancet.proto.daemon.CurvatureStatus;
import dev.lancet.proto.daemon.StoredBatch;
import dev.lancet.proto.daemon.StoredCurvature;
import dev.lancet.proto.daemon.StoredJob;
import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Each model's dense curvature, grown batch by batch: {@code models/<key>/} holds {@code state.pb} (the version:
 * batches folded in so far), {@code factors-<v>.safetensors} (the fp64 means over every batch up to v) and
 * {@code batch-<v>/} (the batch's calibration files as accepted, kept). A batch costs only its own windows: they
 * are folded into the previous version's factors ({@code lancet curvature --add-to}). The state file is written
 * last, atomically: a batch counts once it names it, so a crash at any point leaves it either wholly in or out,
 * and the next batch clears what a half-done one left. Batches of one model are folded one at a time.
 */
final class CurvatureStore {

    static final int FORMAT = 2;
    private static final String STATE = "state.pb";

    private final Path models;
    private final ConcurrentHashMap<String, Object> locks = new ConcurrentHashMap<>();

    CurvatureStore(Path state) throws IOException {
        this.models = Files.createDirectories(state.resolve("models"));
    }

    /** Calibration settings of one batch; the files already confined to the daemon's roots. */
    record Batch(Path model, List<Path> calibration, int samples, int seqlen, CalibrationSource.Sampling sampling,
                 long seed) {
    }

    /** Folds a batch into the model's state and keeps its files. */
    CurvatureStatus add(Batch batch) throws InterruptedException {
        Path dir = models.resolve(key(batch.model()));
        synchronized (locks.computeIfAbsent(dir.toString(), k -> new Object())) {
            try {
                Files.createDirectories(dir);
                StoredCurvature current = read(dir, batch.model());
                int version = current.getVersion() + 1;
                Path data = dir.resolve("batch-" + version);
                Path temp = dir.resolve(".batch-" + version);
                Path factors = factors(dir, version);
                // what a batch interrupted before it counted left behind
                AtomicFiles.deleteTree(data);
                AtomicFiles.deleteTree(temp);
                Files.deleteIfExists(factors);
                try {
                    Files.createDirectories(temp);
                    List<Path> kept = new ArrayList<>();
                    StoredBatch.Builder record = StoredBatch.newBuilder().setSamples(batch.samples())
                            .setSeqlen(batch.seqlen()).setSampling(batch.sampling().name()).setSeed(batch.seed());
                    for (int i = 0; i < batch.calibration().size(); i++) {
                        kept.add(Files.copy(batch.calibration().get(i), temp.resolve("data-" + i + ".txt")));
                        record.addFiles(dir.relativize(data.resolve("data-" + i + ".txt")).toString());
                    }
                    CurvatureJob.Result result = CurvatureJob.run(new CurvatureJob.Spec(batch.model(), kept,
                            batch.samples(), batch.seqlen(), batch.sampling(), batch.seed(),
                            current.getVersion() == 0 ? null : factors(dir, current.getVersion()), factors,
                            Precision.FP64, null, CurvatureJob.Pipeline.ACTORS), JobProgress.NONE);
                    Files.move(temp, data, StandardCopyOption.ATOMIC_MOVE);
                    StoredCurvature next = current.toBuilder().setVersion(version).setTokens(result.tokens())
                            .addBatches(record).build();
                    AtomicFiles.write(dir.resolve(STATE), next.toByteArray());
                    return CurvatureStatus.newBuilder().setModel(batch.model().toString()).setVersion(version)
                            .setTokens(result.tokens()).setNewTokens(result.newTokens()).setSeconds(result.seconds())
                            .build();
                } catch (RuntimeException | InterruptedException e) {
                    // a refused batch leaves nothing
                    AtomicFiles.deleteTree(temp);
                    Files.deleteIfExists(factors);
                    throw e;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Pins the model's current state in a re-prune's job: the factor file and the batches folded into it. */
    StoredJob.Builder pin(Path model, StoredJob.Builder job) {
        Path dir = models.resolve(key(model));
        StoredCurvature state = read(dir, model);
        if (state.getVersion() == 0) {
            throw Status.NOT_FOUND.withDescription("no calibration data added for this model yet (add-data first)")
                    .asRuntimeException();
        }
        return job.setFirstShotCurvature(factors(dir, state.getVersion()).toString())
                .addAllCalibrationBatches(state.getBatchesList());
    }

    /** What a re-prune's job pinned, its batches' files resolved beside the factor file; null for any other job. */
    static StoredCalibration pinned(StoredJob job) {
        if (job.getFirstShotCurvature().isEmpty()) {
            return null;
        }
        Path factors = Path.of(job.getFirstShotCurvature());
        return new StoredCalibration(factors, job.getCalibrationBatchesList().stream()
                .map(b -> new StoredCalibration.Batch(b.getFilesList().stream().map(factors.getParent()::resolve)
                        .toList(), b.getSamples(), b.getSeqlen(), CalibrationSource.Sampling.valueOf(b.getSampling()),
                        b.getSeed())).toList());
    }

    private static StoredCurvature read(Path dir, Path model) {
        Path file = dir.resolve(STATE);
        try {
            if (!Files.exists(file)) {
                return StoredCurvature.newBuilder().setFormat(FORMAT).setModel(model.toString()).build();
            }
            StoredCurvature state = StoredCurvature.parseFrom(Files.readAllBytes(file));
            if (state.getFormat() != FORMAT) {
                throw new IllegalStateException(file + ": curvature state of format " + state.getFormat());
            }
            return state;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path factors(Path dir, int version) {
        return dir.resolve("factors-" + version + ".safetensors");
    }

    /** A directory name for a model: a hash of its resolved path. */
    private static String key(Path model) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(model.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
