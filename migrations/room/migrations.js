import journal from './meta/_journal.json';
import m0000 from './0000_room_log.sql';
import m0001 from './0001_message_lifecycle.sql';
import m0002 from './0002_attachments.sql';
import m0003 from './0003_client_ids_in_memory.sql';
import m0004 from './0004_membership_of_record.sql';
import m0005 from './0005_safety.sql';
import m0006 from './0006_push_mute.sql';
import m0007 from './0007_marker_versions.sql';
import m0008 from './0008_markers_in_d1_by_version.sql';

  export default {
    journal,
    migrations: {
      m0000,
m0001,
m0002,
m0003,
m0004,
m0005,
m0006,
m0007,
m0008
    }
  }
  