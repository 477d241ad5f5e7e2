//! The `list` phase: `tools/list` over 1,000+ tools, directly and through the gateway.

use super::*;

pub(crate) struct ListSide {
    pub(crate) lat: Lat,
    pub(crate) tools: usize,
    pub(crate) pages: usize,
    pub(crate) bytes: usize,
}

pub(crate) async fn list_side(conn: &mut Conn, calls: usize) -> Result<ListSide> {
    let (mut times, tools, pages, bytes) =
        timeout(STEP * 4, conn.list_times(calls)).await.map_err(|_| anyhow!("tools/list calls did not finish"))??;
    Ok(ListSide { lat: lat_stats(&mut times), tools, pages, bytes })
}

pub(crate) async fn gateway_list(s: &Settings, gateway_keys: &str, args: &[&str]) -> Result<ListSide> {
    let ws = tempfile::tempdir()?;
    let cfg =
        write_config(ws.path(), "gateway.toml", &format!("{gateway_keys}\n{}", server_toml("big", "app", args, "")))?;
    let mut gw = Conn::gateway(&cfg)?;
    gw.handshake().await?;
    let side = list_side(&mut gw, s.list_calls).await?;
    gw.close().await?;
    Ok(side)
}

/// The fixture directly, the gateway with its default paging, and the gateway set to one page
/// (`page_size = 0`; `Err` if this build has no such key).
pub(crate) async fn big_list(s: &Settings) -> Result<(ListSide, ListSide, Result<ListSide>)> {
    let extra = s.extra_tools.to_string();
    let args = ["--extra-tools", extra.as_str()];
    let mut fx = Conn::fixture(&[&["--name", "big"][..], &args].concat())?;
    fx.handshake().await?;
    let direct = list_side(&mut fx, s.list_calls).await?;
    fx.close().await?;
    let want = s.extra_tools + fixture_base_tools();
    ensure!(direct.tools == want, "the fixture lists {} tools, expected {want}", direct.tools);

    let paged = gateway_list(s, "", &args).await?;
    ensure!(
        paged.tools == want,
        "the gateway lists {} tools over {} page(s), expected {want}",
        paged.tools,
        paged.pages
    );
    let one_page = gateway_list(s, "page_size = 0", &args).await.and_then(|side| {
        ensure!(side.tools == want, "with page_size = 0 the gateway lists {} tools, expected {want}", side.tools);
        Ok(side)
    });
    Ok((direct, paged, one_page))
}
