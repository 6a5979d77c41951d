(* Pulp module for Augeas -- benchmark baseline only

   Debian's augeas-lenses has no lens mapped to /etc/pulp/server.conf, so
   the augtool-based configure_pulp_server.sh of the original Pulp 2 images
   cannot run unmodified here. This is an IniFile-style lens in the spirit
   of puppet.aug / php.aug / dput.aug:

     - '#' and ';' comments (new comments are written with '#')
     - ':' and '=' separators (new entries are written as "key:value",
       IniFile.sep puts no spaces around the default separator)
     - sections are mapped as values of "target" nodes, so paths look like
         /files/etc/pulp/server.conf/target[. = 'database']/seeds
       exactly as used by configure_pulp_server.sh.

   Load it with:  augtool -I bench/ ...   (autoloads Pulp.xfm)
*)
module Pulp =
  autoload xfm

let comment = IniFile.comment IniFile.comment_re "#"
let sep     = IniFile.sep IniFile.sep_re ":"

let entry   = IniFile.indented_entry IniFile.entry_re sep comment

let title   = IniFile.indented_title_label "target" IniFile.record_label_re
let record  = IniFile.record title entry

let lns     = IniFile.lns record comment

let filter  = incl "/etc/pulp/server.conf"
            . incl "/etc/pulp/admin/admin.conf"
            . incl "/etc/pulp/consumer/consumer.conf"

let xfm     = transform lns filter
