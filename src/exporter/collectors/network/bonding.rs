//! `bonding`: slaves configured and up per bonding interface, from
//! `/sys/class/net/bonding_masters`, `<master>/bonding/slaves` and each
//! slave's `bonding_slave/mii_status` (`node_bonding_slaves{master}`,
//! `node_bonding_active{master}`): a bond with a failed link shows
//! `active < slaves`.
//!
//! Decisions: as node_exporter, a host without the bonding driver (no
//! `bonding_masters`) reports no data; a slave's status is read through
//! `lower_<slave>` and, on older kernels, `slave_<slave>`; a slave listed
//! without a readable status fails the collector, naming the file.

use std::path::Path;

use crate::exporter::collector::{read_attr, CollectError, Collector, Paths};
use crate::exporter::metrics::Metrics;

/// One bond: its name, slaves configured, slaves whose MII status is `up`.
#[derive(Debug, PartialEq)]
pub struct Bond {
    pub master: String,
    pub slaves: u32,
    pub active: u32,
}

/// Reads every bond listed in `class_net/bonding_masters`; `None` when the
/// file is absent (no bonding driver).
pub fn read_bonds(class_net: &Path) -> Result<Option<Vec<Bond>>, CollectError> {
    let Some(masters) = read_attr(&class_net.join("bonding_masters")) else {
        return Ok(None);
    };
    let mut bonds = Vec::new();
    for master in masters.split_whitespace() {
        let dir = class_net.join(master);
        let slaves_path = dir.join("bonding/slaves");
        let slaves = read_attr(&slaves_path).ok_or_else(|| missing(&slaves_path))?;
        let mut bond = Bond {
            master: master.to_owned(),
            slaves: 0,
            active: 0,
        };
        for slave in slaves.split_whitespace() {
            let status = ["lower_", "slave_"]
                .iter()
                .find_map(|p| read_attr(&dir.join(format!("{p}{slave}/bonding_slave/mii_status"))))
                .ok_or_else(|| {
                    missing(&dir.join(format!("lower_{slave}/bonding_slave/mii_status")))
                })?;
            bond.slaves += 1;
            if status == "up" {
                bond.active += 1;
            }
        }
        bonds.push(bond);
    }
    Ok(Some(bonds))
}

fn missing(path: &Path) -> CollectError {
    CollectError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "missing or unreadable"),
    }
}

pub struct Bonding {
    paths: Paths,
}

impl Bonding {
    pub fn new(paths: Paths) -> Self {
        Bonding { paths }
    }
}

impl Collector for Bonding {
    fn update(&self, out: &mut Metrics) -> Result<(), CollectError> {
        let Some(bonds) = read_bonds(&self.paths.sys("class/net"))? else {
            return Err(CollectError::NoData("/sys/class/net/bonding_masters"));
        };
        if bonds.is_empty() {
            return Ok(());
        }
        let f = out.gauge(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
        );
        for b in &bonds {
            f.add(&[("master", &b.master)], b.slaves as f64);
        }
        let f = out.gauge(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
        );
        for b in &bonds {
            f.add(&[("master", &b.master)], b.active as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::exporter::collector::write_fixture as write;

    #[test]
    fn a_bond_with_a_down_slave_has_fewer_active_than_configured() {
        let net = tempfile::tempdir().unwrap();
        let n = net.path();
        write(&n.join("bonding_masters"), "bond0 bond1\n");
        write(&n.join("bond0/bonding/slaves"), "eth1 eth2\n");
        write(&n.join("bond0/lower_eth1/bonding_slave/mii_status"), "up\n");
        write(
            &n.join("bond0/lower_eth2/bonding_slave/mii_status"),
            "down\n",
        );
        write(&n.join("bond1/bonding/slaves"), "eth3\n");
        write(&n.join("bond1/slave_eth3/bonding_slave/mii_status"), "up\n");
        let bonds = read_bonds(n).unwrap().unwrap();
        assert_eq!(
            bonds,
            [
                Bond {
                    master: "bond0".into(),
                    slaves: 2,
                    active: 1
                },
                Bond {
                    master: "bond1".into(),
                    slaves: 1,
                    active: 1
                },
            ]
        );
        std::fs::remove_file(n.join("bond0/lower_eth2/bonding_slave/mii_status")).unwrap();
        let e = read_bonds(n).unwrap_err().to_string();
        assert!(e.contains("lower_eth2/bonding_slave/mii_status"), "{e}");
        assert_eq!(read_bonds(&n.join("nowhere")).unwrap(), None);
    }
}
