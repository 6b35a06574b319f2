/*
 * Small helper driven through py4j by tools/oracle/java_oracle.py.
 * Compiled by tools/oracle/setup.sh against the Paimon 0.9 bridge jar shipped in pypaimon==0.2.0.
 *
 * All methods take and return plain strings (JSON) so that py4j never has to convert
 * Java numbers (py4j passes small Python ints as Integer, which breaks BIGINT fields).
 *
 * Value encoding in JSON (same as the write spec):
 *   BOOLEAN true/false; integer types and FLOAT/DOUBLE JSON numbers (or numeric strings);
 *   DECIMAL "123.45" (string or number); CHAR/VARCHAR/STRING strings;
 *   BINARY/VARBINARY/BYTES hex strings; DATE "YYYY-MM-DD"; TIME "HH:MM:SS[.fff]";
 *   TIMESTAMP(p) "YYYY-MM-DD HH:MM:SS[.f...]"; TIMESTAMP_LTZ(p) same, meaning UTC; null.
 */
package shoal.oracle;

import org.apache.paimon.AppendOnlyFileStore;
import org.apache.paimon.append.UnawareAppendCompactionTask;
import org.apache.paimon.catalog.Catalog;
import org.apache.paimon.catalog.CatalogContext;
import org.apache.paimon.catalog.CatalogFactory;
import org.apache.paimon.catalog.Identifier;
import org.apache.paimon.codegen.CodeGenUtils;
import org.apache.paimon.data.BinaryRow;
import org.apache.paimon.data.BinaryString;
import org.apache.paimon.data.Decimal;
import org.apache.paimon.data.GenericRow;
import org.apache.paimon.data.InternalRow;
import org.apache.paimon.data.Timestamp;
import org.apache.paimon.data.serializer.InternalRowSerializer;
import org.apache.paimon.disk.IOManager;
import org.apache.paimon.io.DataFileMeta;
import org.apache.paimon.operation.AppendOnlyFileStoreWrite;
import org.apache.paimon.options.Options;
import org.apache.paimon.schema.Schema;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.paimon.table.BucketMode;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.sink.BatchTableCommit;
import org.apache.paimon.table.sink.BatchTableWrite;
import org.apache.paimon.table.sink.BatchWriteBuilder;
import org.apache.paimon.table.sink.CommitMessage;
import org.apache.paimon.table.sink.FixedBucketRowKeyExtractor;
import org.apache.paimon.table.sink.KeyAndBucketExtractor;
import org.apache.paimon.table.source.DataSplit;
import org.apache.paimon.types.DataField;
import org.apache.paimon.types.DataType;
import org.apache.paimon.types.DataTypeChecks;
import org.apache.paimon.types.DataTypeJsonParser;
import org.apache.paimon.types.RowKind;
import org.apache.paimon.types.RowType;
import org.apache.paimon.utils.SerializationUtils;

import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

public class ShoalOracle {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static Catalog catalog(String warehouse) {
        Map<String, String> m = new HashMap<>();
        m.put("warehouse", warehouse);
        return CatalogFactory.createCatalog(CatalogContext.create(new Options(m)));
    }

    private static List<String> strings(JsonNode n) {
        List<String> out = new ArrayList<>();
        if (n != null) {
            for (JsonNode e : n) {
                out.add(e.asText());
            }
        }
        return out;
    }

    /**
     * Opens warehouse/db.db/name, creating database and table from the spec (fields,
     * primary_keys, partition_keys, options) when the table does not exist yet.
     * Returns "created" or "existing".
     */
    public static String ensureTable(String warehouse, String db, String name, String specJson)
            throws Exception {
        Catalog catalog = catalog(warehouse);
        Identifier id = Identifier.create(db, name);
        if (catalog.tableExists(id)) {
            return "existing";
        }
        JsonNode spec = MAPPER.readTree(specJson);
        catalog.createDatabase(db, true);
        Schema.Builder b = Schema.newBuilder();
        for (JsonNode f : spec.get("fields")) {
            b.column(f.get("name").asText(),
                    DataTypeJsonParser.parseAtomicTypeSQLString(f.get("type").asText()));
        }
        List<String> pks = strings(spec.get("primary_keys"));
        if (!pks.isEmpty()) {
            b.primaryKey(pks);
        }
        List<String> parts = strings(spec.get("partition_keys"));
        if (!parts.isEmpty()) {
            b.partitionKeys(parts);
        }
        JsonNode opts = spec.get("options");
        if (opts != null) {
            Iterator<Map.Entry<String, JsonNode>> it = opts.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                b.option(e.getKey(), e.getValue().asText());
            }
        }
        catalog.createTable(id, b.build(), false);
        return "created";
    }

    public static FileStoreTable table(String warehouse, String db, String name, long snapshot)
            throws Exception {
        FileStoreTable t =
                (FileStoreTable) catalog(warehouse).getTable(Identifier.create(db, name));
        if (snapshot > 0) {
            Map<String, String> m = new HashMap<>();
            m.put("scan.snapshot-id", Long.toString(snapshot));
            t = t.copy(m);
        }
        return t;
    }

    private static byte[] hex(String s) {
        int n = s.length() / 2;
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    private static String toHex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    private static LocalDateTime parseDateTime(String s) {
        return LocalDateTime.parse(s.trim().replace(' ', 'T'));
    }

    /** Converts a JSON value to Paimon's internal representation of the type. */
    public static Object toInternal(DataType t, JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        switch (t.getTypeRoot()) {
            case BOOLEAN:
                return v.isBoolean() ? v.booleanValue() : Boolean.parseBoolean(v.asText());
            case TINYINT:
                return (byte) Long.parseLong(v.asText());
            case SMALLINT:
                return (short) Long.parseLong(v.asText());
            case INTEGER:
                return (int) Long.parseLong(v.asText());
            case BIGINT:
                return v.isNumber() ? v.longValue() : Long.parseLong(v.asText());
            case FLOAT:
                return v.isNumber() ? v.floatValue() : Float.parseFloat(v.asText());
            case DOUBLE:
                return v.isNumber() ? v.doubleValue() : Double.parseDouble(v.asText());
            case DECIMAL:
                return Decimal.fromBigDecimal(
                        new BigDecimal(v.asText()),
                        DataTypeChecks.getPrecision(t),
                        DataTypeChecks.getScale(t));
            case CHAR:
            case VARCHAR:
                return BinaryString.fromString(v.asText());
            case BINARY:
            case VARBINARY:
                return hex(v.asText());
            case DATE:
                return (int) LocalDate.parse(v.asText().trim()).toEpochDay();
            case TIME_WITHOUT_TIME_ZONE:
                return (int) (LocalTime.parse(v.asText().trim()).toNanoOfDay() / 1_000_000L);
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                // LTZ: internal value is the UTC instant, so the string is read as UTC.
                return Timestamp.fromLocalDateTime(parseDateTime(v.asText()));
            default:
                throw new IllegalArgumentException("unsupported type in oracle: " + t);
        }
    }

    private static GenericRow toRow(List<DataField> fields, JsonNode obj) {
        RowKind kind = RowKind.INSERT;
        JsonNode k = obj.get("_row_kind");
        if (k != null && !k.isNull()) {
            kind = RowKind.fromShortString(k.asText());
        }
        GenericRow row = new GenericRow(kind, fields.size());
        for (int i = 0; i < fields.size(); i++) {
            DataField f = fields.get(i);
            row.setField(i, toInternal(f.type(), obj.get(f.name())));
        }
        return row;
    }

    /**
     * One batch write + commit. rowsJson is a JSON array of objects keyed by column name,
     * with optional "_row_kind" (+I, -U, +U, -D). With compact=true every bucket of the
     * table (existing ones from the latest snapshot and those written now) gets a full
     * compaction in the same commit. Returns a short JSON summary.
     */
    public static String writeCommit(
            String warehouse, String db, String name, String rowsJson, boolean compact,
            String ioTmpDir)
            throws Exception {
        FileStoreTable table = table(warehouse, db, name, -1);
        List<DataField> fields = table.rowType().getFields();
        JsonNode rows = MAPPER.readTree(rowsJson);
        BatchWriteBuilder builder = table.newBatchWriteBuilder();
        IOManager io = IOManager.create(ioTmpDir);
        BatchTableWrite write = (BatchTableWrite) builder.newWrite().withIOManager(io);
        Map<BinaryRow, List<Integer>> buckets = new LinkedHashMap<>();
        // Bucket-unaware append tables have no in-writer compaction in 0.9 (NoopCompactManager):
        // their "compact" is a second commit rewriting all files of each partition.
        boolean unaware = table.bucketMode() == BucketMode.BUCKET_UNAWARE;
        int n = 0;
        try {
            for (JsonNode obj : rows) {
                GenericRow row = toRow(fields, obj);
                write.write(row);
                n++;
                if (compact) {
                    addBucket(buckets, write.getPartition(row).copy(), write.getBucket(row));
                }
            }
            int compacted = 0;
            if (compact && !unaware) {
                for (DataSplit s : table.newSnapshotReader().read().dataSplits()) {
                    addBucket(buckets, s.partition(), s.bucket());
                }
                for (Map.Entry<BinaryRow, List<Integer>> e : buckets.entrySet()) {
                    for (int b : e.getValue()) {
                        write.compact(e.getKey(), b, true);
                        compacted++;
                    }
                }
            }
            List<CommitMessage> messages = write.prepareCommit();
            try (BatchTableCommit commit = builder.newCommit()) {
                commit.commit(messages);
            }
            if (compact && unaware) {
                compacted = compactUnaware(table);
            }
            Long snap = table.snapshotManager().latestSnapshotId();
            return "{\"rows\":" + n + ",\"compacted_buckets\":" + compacted
                    + ",\"snapshot\":" + snap + "}";
        } finally {
            write.close();
            io.close();
        }
    }

    private static int compactUnaware(FileStoreTable table) throws Exception {
        Map<BinaryRow, List<DataFileMeta>> files = new LinkedHashMap<>();
        for (DataSplit s : table.newSnapshotReader().read().dataSplits()) {
            files.computeIfAbsent(s.partition(), x -> new ArrayList<>()).addAll(s.dataFiles());
        }
        String user = UUID.randomUUID().toString();
        AppendOnlyFileStoreWrite write =
                ((AppendOnlyFileStore) table.store()).newWrite(user);
        List<CommitMessage> messages = new ArrayList<>();
        try {
            for (Map.Entry<BinaryRow, List<DataFileMeta>> e : files.entrySet()) {
                if (e.getValue().size() > 1) {
                    messages.add(new UnawareAppendCompactionTask(e.getKey(), e.getValue())
                            .doCompact(table, write));
                }
            }
        } finally {
            write.close();
        }
        if (!messages.isEmpty()) {
            try (BatchTableCommit commit = table.newBatchWriteBuilder().newCommit()) {
                commit.commit(messages);
            }
        }
        return messages.size();
    }

    private static void addBucket(Map<BinaryRow, List<Integer>> m, BinaryRow p, int b) {
        List<Integer> l = m.computeIfAbsent(p, x -> new ArrayList<>());
        if (!l.contains(b)) {
            l.add(b);
        }
    }

    /**
     * For a (real, possibly empty) fixed-bucket table, runs Paimon's own
     * FixedBucketRowKeyExtractor over the given rows. Returns one line per row:
     * "hash,bucket" where hash is the BinaryRow.hashCode() of the bucket key the extractor
     * built, and bucket is the bucket the extractor chose.
     */
    public static String bucketGoldens(String warehouse, String db, String name, String rowsJson)
            throws Exception {
        FileStoreTable table = table(warehouse, db, name, -1);
        List<DataField> fields = table.rowType().getFields();
        FixedBucketRowKeyExtractor ex = new FixedBucketRowKeyExtractor(table.schema());
        Method bucketKey = FixedBucketRowKeyExtractor.class.getDeclaredMethod("bucketKey");
        bucketKey.setAccessible(true);
        int numBuckets = Integer.parseInt(table.options().get("bucket"));
        StringBuilder sb = new StringBuilder();
        for (JsonNode obj : MAPPER.readTree(rowsJson)) {
            ex.setRecord(toRow(fields, obj));
            BinaryRow key = (BinaryRow) bucketKey.invoke(ex);
            int hash = key.hashCode();
            int bucket = ex.bucket();
            if (KeyAndBucketExtractor.bucketKeyHashCode(key) != hash
                    || KeyAndBucketExtractor.bucket(hash, numBuckets) != bucket) {
                throw new IllegalStateException("inconsistent bucket computation");
            }
            sb.append(hash).append(',').append(bucket).append('\n');
        }
        return sb.toString();
    }

    /**
     * casesJson: JSON array of {"types": [...], "values": [...]}. Returns a JSON array of
     * {"hex": SerializationUtils.serializeBinaryRow bytes (4-byte big-endian arity, then the
     * row bytes) of InternalRowSerializer.toBinaryRow, "hash": its BinaryRow.hashCode(),
     * "size": its sizeInBytes, "proj_hex"/"proj_hash": the same for the row built by
     * CodeGenUtils.newProjection (identity projection)}.
     */
    public static String binaryRows(String casesJson) throws Exception {
        StringBuilder sb = new StringBuilder("[");
        boolean first = true;
        for (JsonNode c : MAPPER.readTree(casesJson)) {
            List<DataType> types = new ArrayList<>();
            for (JsonNode t : c.get("types")) {
                types.add(DataTypeJsonParser.parseAtomicTypeSQLString(t.asText()));
            }
            JsonNode values = c.get("values");
            GenericRow row = new GenericRow(types.size());
            for (int i = 0; i < types.size(); i++) {
                row.setField(i, toInternal(types.get(i), values.get(i)));
            }
            InternalRowSerializer ser =
                    new InternalRowSerializer(types.toArray(new DataType[0]));
            BinaryRow br = ser.toBinaryRow(row).copy();
            byte[] full = SerializationUtils.serializeBinaryRow(br);
            // The code-generated projection (what Paimon uses to build partition, primary-key
            // and bucket-key rows) writes nulls of non-compact DECIMAL/TIMESTAMP differently.
            List<DataField> fs = new ArrayList<>();
            int[] mapping = new int[types.size()];
            for (int i = 0; i < types.size(); i++) {
                fs.add(new DataField(i, "f" + i, types.get(i)));
                mapping[i] = i;
            }
            BinaryRow pr = CodeGenUtils.newProjection(new RowType(fs), mapping).apply(row).copy();
            byte[] proj = SerializationUtils.serializeBinaryRow(pr);
            if (!first) {
                sb.append(',');
            }
            first = false;
            sb.append("{\"hex\":\"").append(toHex(full))
                    .append("\",\"hash\":").append(br.hashCode())
                    .append(",\"size\":").append(br.getSizeInBytes())
                    .append(",\"proj_hex\":\"").append(toHex(proj))
                    .append("\",\"proj_hash\":").append(pr.hashCode())
                    .append('}');
        }
        return sb.append(']').toString();
    }
}
